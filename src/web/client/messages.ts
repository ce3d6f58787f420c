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

export function storedMessageView(message: Pick<MessageFieldsFragment, 'id' | 'role' | 'content'> & { interrupted?: boolean; finishReason?: string | null }, onRegenerate?: (id: string) => void): MessageView {
  const assistant = message.role === 'ASSISTANT';
  const view = messageView(message.role, message.content, assistant && onRegenerate ? () => onRegenerate(message.id) : undefined);
  view.element.dataset.id = message.id;
  if (assistant) view.setState(message.interrupted ? 'interrupted' : 'complete');
  return view;
}
