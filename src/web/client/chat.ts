/**
 * The chat view: conversation list, the open conversation's messages, the composer, and the
 * reply streaming in.
 */
import {
  CancelGenerationDocument,
  ChatConversationDocument,
  EditMessageDocument,
  SetActiveLeafDocument,
  DeleteConversationDocument,
  RegenerateDocument,
  RenameConversationDocument,
  SendMessageDocument,
  type GenerationFieldsFragment,
  type SendMessageInput,
} from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { conversationList } from './conversations.ts';
import { announce, h } from './dom.ts';
import { downloadExport, uploadFile, type ExportFormat } from './files.ts';
import { messageView, storedMessageView } from './messages.ts';
import { session, type PendingGeneration } from './session.ts';
import { followGeneration } from './stream.ts';
import { usageMeter } from './usage-meter.ts';
import { organiseControls } from './organise.ts';
import { searchBox } from './search-box.ts';

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function renderChat(root: HTMLElement, api: Api): void {
  let current: { id: string; title: string } | undefined;
  let generation: { id: string; follow: { stop(): void } } | undefined;

  const alert = h('p', { role: 'alert', class: 'error' });
  const status = h('p', { role: 'status', class: 'status visually-hidden' });
  const report = (error: unknown) => announce(alert, errorText(error));

  const list = conversationList(api, (id) => void open(id).catch(report), report);
  const organise = organiseControls(api, status, report, () => void list.reload().catch(report));
  const search = searchBox(api, (id) => open(id), report);
  const title = h('h2', { id: 'chat-title', tabindex: -1 }, 'New conversation');
  const log = h('ol', { class: 'log', role: 'log', 'aria-labelledby': 'chat-title' });
  const prompt = h('textarea', { id: 'prompt', name: 'prompt', rows: 3, required: true, 'aria-describedby': 'prompt-hint' });
  const attach = h('input', { id: 'attach', name: 'attach', type: 'file', multiple: true });
  const maxTokens = h('input', { id: 'max-tokens', name: 'maxTokens', type: 'number', min: 1, max: 100000, value: 256, inputmode: 'numeric' });
  const send = h('button', { type: 'submit' }, 'Send');
  const stop = h('button', { type: 'button', class: 'danger', hidden: true, onclick: () => void cancel() }, 'Stop');
  const meter = usageMeter(api);
  const refreshMeter = () => void meter.refresh().catch(() => {});

  const titleInput = h('input', { id: 'rename-title', name: 'title', required: true, maxlength: 200 });
  const renameForm: HTMLFormElement = h(
    'form',
    { class: 'rename', hidden: true, onsubmit: (event) => (event.preventDefault(), void rename()) },
    h('label', { for: 'rename-title' }, 'Conversation title'),
    titleInput,
    h('button', { type: 'submit' }, 'Save'),
    h('button', { type: 'button', class: 'secondary', onclick: () => closeRename() }, 'Cancel'),
  );
  const exportButton = (format: ExportFormat, label: string) =>
    h('button', { type: 'button', class: 'secondary', onclick: () => current && void downloadExport(api, current.id, current.title, format).catch(report) }, label);
  const actions = h(
    'div',
    { class: 'actions', role: 'group', 'aria-label': 'Conversation actions', hidden: true },
    h('button', { type: 'button', class: 'secondary', onclick: () => openRename() }, 'Rename'),
    h('button', { type: 'button', class: 'secondary', onclick: () => void remove() }, 'Delete'),
    ...organise.elements,
    h('span', { class: 'export-label', id: 'export-label' }, 'Export:'),
    h('span', { role: 'group', 'aria-labelledby': 'export-label', class: 'row' }, exportButton('json', 'JSON'), exportButton('md', 'Markdown'), exportButton('pdf', 'PDF')),
  );

  const composer = h(
    'form',
    { class: 'composer', onsubmit: (event) => (event.preventDefault(), void submit()) },
    h('label', { for: 'prompt' }, 'Message'),
    prompt,
    h('p', { id: 'prompt-hint', class: 'hint' }, 'Enter sends, Shift+Enter starts a new line, Escape stops the reply.'),
    h(
      'div',
      { class: 'row wrap' },
      h('span', { class: 'field' }, h('label', { for: 'attach' }, 'Attach files'), attach),
      h('span', { class: 'field' }, h('label', { for: 'max-tokens' }, 'Max tokens'), maxTokens),
      h('span', { class: 'row push' }, meter.element, stop, send),
    ),
  );
  prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && generation) void cancel();
  });

  const setTitle = (text: string) => {
    title.textContent = text;
    document.title = `${text} · gptql chat`;
  };

  const setGenerating = (on: boolean) => {
    stop.hidden = !on;
    send.disabled = on;
    for (const button of log.querySelectorAll<HTMLButtonElement>('button.regenerate')) button.disabled = on;
  };

  /**
   * Shows the reply of generation `pending` growing, then its final state; with `reload`, the
   * branch is read again at the end (a regenerated or edited reply has versions to show).
   */
  const follow = (pending: PendingGeneration, reload = false) => {
    const view = messageView('ASSISTANT', '');
    view.setState('streaming');
    log.append(view.element);
    view.element.scrollIntoView({ block: 'end' });
    setGenerating(true);
    const done = () => {
      generation = undefined;
      setGenerating(false);
      refreshMeter();
    };
    generation = {
      id: pending.id,
      follow: followGeneration(api, pending, {
        text(text) {
          view.setText(text);
          view.element.scrollIntoView({ block: 'end' });
        },
        completed(event) {
          done();
          const message = event.message;
          const interrupted = event.finishReason === 'CANCELLED' || Boolean(message?.interrupted);
          announce(status, interrupted ? 'Reply interrupted.' : 'Reply complete.');
          if (!message) return view.setState(interrupted ? 'interrupted' : 'complete');
          if (reload && current) return void open(current.id, false).catch(report);
          // After a reload the stored reply may already be on the page: keep one copy.
          if (log.querySelector(`li[data-id="${CSS.escape(message.id)}"]`)) return view.element.remove();
          view.element.replaceWith(storedMessageView({ ...message, interrupted }, messageActions).element);
        },
        failed(message) {
          done();
          view.setState('failed', `failed: ${message}`);
          announce(alert, message);
        },
      }),
    };
  };

  const started = (result: GenerationFieldsFragment, reload = false) => {
    const conversation = result.conversation;
    if (!conversation) throw new Error('The server started a generation outside any conversation');
    if (current?.id !== conversation.id) {
      current = { id: conversation.id, title: conversation.title };
      session.setConversation(current.id);
      setTitle(current.title);
      actions.hidden = false;
    }
    list.upsert(current);
    list.select(current.id);
    follow({ id: result.id, conversationId: conversation.id, index: 0, text: '' }, reload);
  };

  async function submit() {
    const content = prompt.value.trim();
    if (!content || generation) return;
    announce(alert, '');
    send.disabled = true;
    try {
      const fileIds = await Promise.all([...(attach.files ?? [])].map((file) => uploadFile(api, file)));
      // `fileIds` is sent only with files, so the page works against a server without uploads.
      const input: SendMessageInput & { fileIds?: string[] } = {
        content,
        conversationId: current?.id,
        params: { maxTokens: maxTokens.valueAsNumber || undefined },
        ...(fileIds.length ? { fileIds } : {}),
      };
      const data = await api.request(SendMessageDocument, { input });
      prompt.value = '';
      attach.value = '';
      const { conversation, userMessage } = data.sendMessage;
      if (current?.id !== conversation?.id) log.replaceChildren();
      if (userMessage) log.append(storedMessageView({ ...userMessage, role: 'USER' }, messageActions).element);
      started(data.sendMessage);
    } catch (error) {
      send.disabled = false;
      report(error);
    }
    prompt.focus();
  }

  async function cancel() {
    if (!generation) return;
    try {
      await api.request(CancelGenerationDocument, { id: generation.id });
    } catch (error) {
      report(error);
    }
  }

  async function regenerate(messageId: string) {
    if (generation) return;
    announce(alert, '');
    try {
      const data = await api.request(RegenerateDocument, { messageId, params: { maxTokens: maxTokens.valueAsNumber || undefined } });
      started(data.regenerate, true);
    } catch (error) {
      report(error);
    }
  }

  /** What the stored messages of the open conversation can do. */
  const messageActions = { regenerate: (id: string) => void regenerate(id), edit: (id: string, content: string) => void edit(id, content), showVersion: (id: string) => void showVersion(id) };

  async function open(id: string, focus = true) {
    generation?.follow.stop();
    generation = undefined;
    setGenerating(false);
    announce(alert, '');
    const { conversation } = await api.request(ChatConversationDocument, { id });
    log.replaceChildren();
    current = { id: conversation.id, title: conversation.title };
    session.setConversation(id);
    setTitle(conversation.title);
    organise.show(conversation);
    actions.hidden = false;
    list.select(id);
    // The active branch: one version of each message, with arrows to the others.
    for (const message of conversation.branch) log.append(storedMessageView(message, messageActions).element);
    log.lastElementChild?.scrollIntoView({ block: 'end' });
    const pending = session.pending();
    if (pending?.conversationId === id) follow(pending);
    if (focus) prompt.focus();
  }

  async function showVersion(messageId: string) {
    if (!current || generation) return;
    try {
      await api.request(SetActiveLeafDocument, { conversationId: current.id, messageId });
      await open(current.id, false);
    } catch (error) {
      report(error);
    }
  }

  async function edit(messageId: string, content: string) {
    if (!current || generation) return;
    announce(alert, '');
    try {
      const data = await api.request(EditMessageDocument, { messageId, content, params: { maxTokens: maxTokens.valueAsNumber || undefined } });
      // The new version and its reply are the active branch now: shown, and the reply followed.
      await open(current.id, false);
      follow({ id: data.editMessage.id, conversationId: current.id, index: 0, text: '' }, true);
    } catch (error) {
      report(error);
    }
  }

  const newConversation = () => {
    generation?.follow.stop();
    generation = undefined;
    setGenerating(false);
    current = undefined;
    session.setConversation(undefined);
    list.select(undefined);
    log.replaceChildren();
    actions.hidden = true;
    closeRename();
    setTitle('New conversation');
    prompt.focus();
  };

  function openRename() {
    if (!current) return;
    titleInput.value = current.title;
    renameForm.hidden = false;
    titleInput.focus();
    titleInput.select();
  }
  function closeRename() {
    renameForm.hidden = true;
  }
  async function rename() {
    if (!current) return;
    try {
      const data = await api.request(RenameConversationDocument, { id: current.id, title: titleInput.value.trim() });
      current.title = data.renameConversation.title;
      setTitle(current.title);
      list.upsert(current);
      closeRename();
      title.focus();
    } catch (error) {
      report(error);
    }
  }
  async function remove() {
    if (!current || !confirm(`Delete “${current.title}” and all its messages?`)) return;
    try {
      await api.request(DeleteConversationDocument, { id: current.id });
      list.remove(current.id);
      newConversation();
      announce(status, 'Conversation deleted.');
    } catch (error) {
      report(error);
    }
  }

  const logOut = h('button', { type: 'button', class: 'secondary', onclick: () => void api.logOut().finally(() => location.reload()) }, 'Log out');
  root.replaceChildren(
    h('header', { class: 'top' }, h('h1', {}, 'gptql'), logOut),
    h(
      'div',
      { class: 'layout' },
      h('div', { class: 'side' }, h('button', { type: 'button', onclick: newConversation }, 'New chat'), search, list.element),
      h('main', { class: 'chat', 'aria-labelledby': 'chat-title' }, h('div', { class: 'chat-head' }, title, actions), renameForm, log, alert, status, composer),
    ),
  );

  // After a reload: the conversation that was open, and the reply that was streaming into it.
  const resume = session.pending()?.conversationId ?? session.conversation();
  void list.reload().catch(report);
  refreshMeter();
  if (resume) void open(resume).catch((error: unknown) => (session.setConversation(undefined), session.setPending(undefined), report(error)));
  else prompt.focus();
}
