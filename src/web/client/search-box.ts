/**
 * The sidebar's search: the user's messages and titles that contain the words typed, each shown
 * with its snippet; choosing one opens its conversation on the branch of the message found.
 */
import { ChatSearchDocument, SetActiveLeafDocument } from '../../generated/graphql.ts';
import type { Api } from './api.ts';
import { announce, h } from './dom.ts';

/**
 * The server's snippet is escaped text with `<mark>` around matched words: parsed (never run:
 * DOMParser documents execute nothing) and rebuilt from its text and marks alone.
 */
function snippetNodes(snippet: string): Node[] {
  const parsed = new DOMParser().parseFromString(`<body>${snippet}</body>`, 'text/html').body;
  return [...parsed.childNodes].map((node) => (node.nodeName === 'MARK' ? h('mark', {}, node.textContent ?? '') : document.createTextNode(node.textContent ?? '')));
}

export function searchBox(api: Api, open: (conversationId: string) => Promise<void>, report: (error: unknown) => void): HTMLElement {
  const input = h('input', { id: 'search', name: 'search', type: 'search', placeholder: 'Words in your chats', autocomplete: 'off' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Search results' });
  const status = h('p', { role: 'status', class: 'status' });
  const form: HTMLFormElement = h('form', { class: 'search', role: 'search' }, h('label', { for: 'search' }, 'Search'), input, status, results);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const query = input.value.trim();
    results.replaceChildren();
    if (!query) return announce(status, '');
    try {
      const hits = (await api.request(ChatSearchDocument, { query })).search.edges.map((e) => e.node);
      announce(status, hits.length === 0 ? 'Nothing found.' : `${hits.length} found.`);
      for (const hit of hits) {
        const choose = async () => {
          if (hit.message) await api.request(SetActiveLeafDocument, { conversationId: hit.conversation.id, messageId: hit.message.id });
          await open(hit.conversation.id);
        };
        results.append(
          h('li', {}, h('button', { type: 'button', class: 'hit', onclick: () => void choose().catch(report) }, h('span', { class: 'hit-title' }, hit.conversation.title), h('span', { class: 'snippet' }, ...snippetNodes(hit.snippet)))),
        );
      }
    } catch (error) {
      report(error);
    }
  });
  return form;
}
