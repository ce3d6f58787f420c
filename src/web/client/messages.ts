/** One message in the chat log: who wrote it, its text, and the state of a reply. */
import type { MessageFieldsFragment } from '../../generated/graphql.ts';
import { h } from './dom.ts';

export type ReplyState = 'streaming' | 'complete' | 'interrupted' | 'failed';

export interface MessageView {
  element: HTMLLIElement;
  setText(text: string): void;
  setState(state: ReplyState, note?: string): void;
}

const STATE_LABEL: Partial<Record<ReplyState, string>> = {
  streaming: 'writing…',
  interrupted: 'interrupted',
  failed: 'failed',
};

export function messageView(role: 'USER' | 'ASSISTANT' | 'SYSTEM', text: string, onRegenerate?: () => void): MessageView {
  const content = h('div', { class: 'content' }, text);
  const badge = h('span', { class: 'badge', hidden: true });
  const element = h(
    'li',
    { class: `message ${role.toLowerCase()}` },
    h('div', { class: 'meta' }, h('span', { class: 'who' }, role === 'USER' ? 'You' : role === 'ASSISTANT' ? 'Assistant' : 'System'), badge),
    content,
    onRegenerate ? h('button', { type: 'button', class: 'link regenerate', onclick: onRegenerate }, 'Regenerate') : null,
  );
  return {
    element,
    setText(value) {
      content.textContent = value;
    },
    setState(state, note) {
      element.dataset.state = state;
      // Screen readers wait for the whole reply instead of reading every token.
      element.setAttribute('aria-busy', String(state === 'streaming'));
      const label = note ?? STATE_LABEL[state];
      badge.hidden = !label;
      badge.textContent = label ?? '';
    },
  };
}

/** What a stored message can do, where the page offers it. */
export interface MessageActions {
  regenerate?: (messageId: string) => void;
  /** A new version of a user message (a branch beside it). */
  edit?: (messageId: string, content: string) => void;
  /** Shows the branch through another version of the message. */
  showVersion?: (messageId: string) => void;
}

export interface StoredMessage extends Pick<MessageFieldsFragment, 'id' | 'role' | 'content'> {
  interrupted?: boolean;
  finishReason?: string | null;
  siblingIndex?: number;
  /** The message's versions (it included), in writing order. */
  siblings?: { id: string }[];
}

export function storedMessageView(message: StoredMessage, actions: MessageActions = {}): MessageView {
  const assistant = message.role === 'ASSISTANT';
  const { regenerate, edit, showVersion } = actions;
  const view = messageView(message.role, message.content, assistant && regenerate ? () => regenerate(message.id) : undefined);
  view.element.dataset.id = message.id;
  if (assistant) view.setState(message.interrupted ? 'interrupted' : 'complete');
  const versions = message.siblings ?? [];
  const at = message.siblingIndex ?? 0;
  if (versions.length > 1 && showVersion) {
    const step = (by: number, label: string, text: string) =>
      h('button', { type: 'button', class: 'link version', 'aria-label': label, disabled: !versions[at + by], onclick: () => versions[at + by] && showVersion(versions[at + by]!.id) }, text);
    view.element.querySelector('.meta')!.append(
      h('span', { class: 'versions', role: 'group', 'aria-label': 'Versions' }, step(-1, 'Previous version', '‹'), h('span', { class: 'version-count' }, `${at + 1}/${versions.length}`), step(1, 'Next version', '›')),
    );
  }
  if (message.role === 'USER' && edit) view.element.append(editControl(view.element, message, edit));
  return view;
}

/** "Edit": the message's text in a box, sent as a new version, or left as it was. */
function editControl(element: HTMLElement, message: StoredMessage, edit: (messageId: string, content: string) => void): HTMLElement {
  const button = h('button', { type: 'button', class: 'link edit' }, 'Edit');
  button.addEventListener('click', () => {
    const box = h('textarea', { 'aria-label': 'Edit message', rows: 3 });
    box.value = message.content;
    const form: HTMLFormElement = h(
      'form',
      { class: 'edit-form' },
      box,
      h('span', { class: 'row' }, h('button', { type: 'submit' }, 'Save and send'), h('button', { type: 'button', class: 'secondary', onclick: () => cancel() }, 'Cancel')),
    );
    const cancel = () => {
      form.remove();
      button.hidden = false;
    };
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (box.value.trim()) edit(message.id, box.value.trim());
    });
    button.hidden = true;
    element.append(form);
    box.focus();
  });
  return button;
}
