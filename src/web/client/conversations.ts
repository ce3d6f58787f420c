/** The sidebar: the user's conversations, newest first, a page at a time. */
import { ConversationsDocument, type ConversationFieldsFragment } from '../../generated/graphql.ts';
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
  let endCursor: string | null | undefined;
  let selected: string | undefined;

  const item = (conversation: Pick<ConversationFieldsFragment, 'id' | 'title'>) => {
    const button = h('button', { type: 'button', class: 'conversation', onclick: () => open(conversation.id) }, conversation.title);
    if (conversation.id === selected) button.setAttribute('aria-current', 'page');
    return h('li', { 'data-id': conversation.id }, button);
  };
  const find = (id: string) => list.querySelector<HTMLLIElement>(`li[data-id="${CSS.escape(id)}"]`);

  const loadPage = async (after?: string | null) => {
    const data = await api.request(ConversationsDocument, { first: PAGE_SIZE, after });
    if (!after) list.replaceChildren();
    for (const edge of data.conversations.edges) if (!find(edge.node.id)) list.append(item(edge.node));
    endCursor = data.conversations.pageInfo.endCursor;
    more.hidden = !data.conversations.pageInfo.hasNextPage;
  };
  more.addEventListener('click', () => void loadPage(endCursor).catch(onError));

  return {
    element: h('nav', { class: 'sidebar', 'aria-labelledby': 'conversations-title' }, h('h2', { id: 'conversations-title' }, 'Conversations'), list, more),
    reload: () => loadPage(),
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
