/** The sidebar: the user's conversations, newest first, a page at a time. */
import { ChatFoldersDocument, ConversationsDocument, type ConversationFieldsFragment, type ConversationFilter } from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { h } from './dom.ts';

const PAGE_SIZE = 20;

export interface ConversationList {
  element: HTMLElement;
  reload(): Promise<void>;
  /** A conversation created or renamed here: shown at the top (or retitled) without a reload. */
  upsert(conversation: Pick<ConversationFieldsFragment, 'id' | 'title'>): void;
  remove(id: string): void;
  select(id: string | undefined): void;
}

export function conversationList(api: Api, open: (id: string) => void, onError: (error: unknown) => void): ConversationList {
  const list = h('ul', { class: 'conversations' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  // Which conversations are listed: all (not archived), pinned, archived, or one folder's.
  const show = h('select', { id: 'conversation-filter', 'aria-label': 'Show' });
  let endCursor: string | null | undefined;
  let selected: string | undefined;
  const filter = (): ConversationFilter | undefined =>
    show.value === 'pinned' ? { pinned: true } : show.value === 'archived' ? { archived: true } : show.value ? { folderId: show.value } : undefined;
  const loadFilters = async () => {
    const chosen = show.value;
    const { folders } = await api.request(ChatFoldersDocument, {});
    show.replaceChildren(
      h('option', { value: '' }, 'All chats'),
      h('option', { value: 'pinned' }, 'Pinned'),
      h('option', { value: 'archived' }, 'Archived'),
      ...folders.map((folder) => h('option', { value: folder.id }, `Folder: ${folder.name}`)),
    );
    show.value = [...show.options].some((option) => option.value === chosen) ? chosen : '';
  };

  const item = (conversation: Pick<ConversationFieldsFragment, 'id' | 'title'>) => {
    const button = h('button', { type: 'button', class: 'conversation', onclick: () => open(conversation.id) }, conversation.title);
    if (conversation.id === selected) button.setAttribute('aria-current', 'page');
    return h('li', { 'data-id': conversation.id }, button);
  };
  const find = (id: string) => list.querySelector<HTMLLIElement>(`li[data-id="${CSS.escape(id)}"]`);

  const loadPage = async (after?: string | null) => {
    const data = await api.request(ConversationsDocument, { first: PAGE_SIZE, after, filter: filter() });
    if (!after) list.replaceChildren();
    for (const edge of data.conversations.edges) if (!find(edge.node.id)) list.append(item(edge.node));
    endCursor = data.conversations.pageInfo.endCursor;
    more.hidden = !data.conversations.pageInfo.hasNextPage;
  };
  more.addEventListener('click', () => void loadPage(endCursor).catch(onError));
  show.addEventListener('change', () => void loadPage().catch(onError));

  return {
    element: h('nav', { class: 'sidebar', 'aria-labelledby': 'conversations-title' }, h('h2', { id: 'conversations-title' }, 'Conversations'), show, list, more),
    async reload() {
      await loadFilters();
      await loadPage();
    },
    upsert(conversation) {
      const existing = find(conversation.id);
      if (existing) existing.replaceWith(item(conversation));
      else list.prepend(item(conversation));
    },
    remove(id) {
      find(id)?.remove();
    },
    select(id) {
      selected = id;
      for (const button of list.querySelectorAll('button')) button.removeAttribute('aria-current');
      if (id) find(id)?.querySelector('button')?.setAttribute('aria-current', 'page');
    },
  };
}
