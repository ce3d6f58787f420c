import type { SearchHit } from '../search/service.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { ConversationRef } from './conversation.ts';
import { MessageRef } from './message.ts';

const SearchHitRef = builder.objectRef<SearchHit>('SearchHit').implement({
  description: 'A message (or a conversation title) of yours that matches the search.',
  fields: (t) => ({
    conversation: t.field({ type: ConversationRef, description: 'The conversation the match is in.', resolve: (hit) => hit.conversation }),
    message: t.field({
      type: MessageRef,
      nullable: true,
      description: 'The message that matched; null when the conversation’s title did.',
      resolve: async (hit, _args, context) => (hit.messageId ? ((await context.services.messages.get(hit.conversation.conversationId, hit.messageId)) ?? null) : null),
    }),
    snippet: t.exposeString('snippet', { description: 'The text around the match, HTML-escaped, the matched words in <mark>…</mark>.' }),
    score: t.exposeFloat('score', { description: 'Relevance (BM25); hits come best first.' }),
  }),
});

const SearchHitConnection = builder.connectionObject({ type: SearchHitRef, name: 'SearchHitConnection', description: 'A page of search hits, best first.' }, { description: 'A search hit in a page, with its cursor.' });

builder.queryFields((t) => ({
  search: t.withAuth({ authenticated: true }).field({
    type: SearchHitConnection,
    description: 'Your messages and conversation titles that contain every word of `query` (1 to 200 characters), as a word or the start of one, in any of its forms ("lighthouses" finds "lighthouse", "light" finds both); best first.',
    args: { query: t.arg.string({ required: true }), ...pageArgs },
    resolve: async (_root, args, context) => {
      const { hits, hasNextPage } = await context.services.search.search(context.identity.userId, args.query, args);
      return toConnection({ items: hits, hasNextPage }, (hit) => hit.cursor, args.after);
    },
  }),
}));
