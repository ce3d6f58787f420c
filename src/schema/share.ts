import type { SharedConversation } from '../conversations/shares.ts';
import { ShareRepository, type ShareRecord, type SharedMessage } from '../store/shares.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { MessageRoleEnum } from './message.ts';
import { globalId, rawId } from './global-id.ts';
import { NodeRef } from './node.ts';

const ShareRef = builder.objectRef<ShareRecord>('Share').implement({
  interfaces: [NodeRef],
  description: 'A read-only link to a snapshot of a conversation’s active branch.',
  fields: (t) => ({
    id: t.id({ description: 'The share’s global id: what `revokeShare` and `sharedConversation` take.', resolve: (s) => globalId('Share', s.shareId) }),
    url: t.string({ description: 'PUBLIC_URL/share/{id}: anyone with it can read the snapshot, without an account.', resolve: (share, _args, context) => context.services.conversations.shares.urlOf(share) }),
    title: t.exposeString('title', { description: 'The conversation’s title when it was shared.' }),
    conversationId: t.id({ description: 'The conversation shared (its global id).', resolve: (s) => globalId('Conversation', s.conversationId) }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was shared.', resolve: (share) => share.createdAt }),
  }),
});

const ShareConnection = builder.connectionObject({ type: ShareRef, name: 'ShareConnection', description: 'A page of your shares, newest first.' }, { description: 'A share in a page, with its cursor.' });

const SharedMessageRef = builder.objectRef<SharedMessage>('SharedMessage').implement({
  description: 'A message of a shared snapshot.',
  fields: (t) => ({
    role: t.field({ type: MessageRoleEnum, description: 'Who wrote it.', resolve: (m) => m.role as 'user' | 'assistant' | 'system' }),
    content: t.exposeString('content', { description: 'Its text.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was written.', resolve: (m) => m.createdAt }),
  }),
});

const SharedConversationRef = builder.objectRef<SharedConversation>('SharedConversation').implement({
  description: 'A shared snapshot: the title and the messages of one branch, as they were when shared.',
  fields: (t) => ({
    id: t.id({ description: 'The share’s global id.', resolve: ({ share }) => globalId('Share', share.shareId) }),
    title: t.string({ description: 'The conversation’s title when it was shared.', resolve: ({ share }) => share.title }),
    sharedAt: t.field({ type: 'DateTime', description: 'When it was shared.', resolve: ({ share }) => share.createdAt }),
    messages: t.field({ type: [SharedMessageRef], description: 'The branch’s messages, oldest first.', resolve: ({ messages }) => messages }),
  }),
});

builder.queryFields((t) => ({
  sharedConversation: t.field({
    type: SharedConversationRef,
    description: 'A shared conversation by its link’s id; no token needed. NOT_FOUND once revoked.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.shares.read(rawId('Share', args.id)),
  }),
  shares: t.withAuth({ authenticated: true }).field({
    type: ShareConnection,
    description: 'Your share links, newest first.',
    args: pageArgs,
    resolve: async (_root, args, context) => toConnection(await context.services.conversations.shares.list(context.identity.userId, args), ShareRepository.cursorOf, args.after),
  }),
}));

builder.mutationFields((t) => ({
  shareConversation: t.withAuth({ authenticated: true }).field({
    type: ShareRef,
    description: 'A link to the conversation’s active branch as it is now (later messages do not appear; files, other branches and your email never do).',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.shares.share(context.identity.userId, rawId('Conversation', args.id)),
  }),
  revokeShare: t.withAuth({ authenticated: true }).id({
    description: 'The link stops working at once (NOT_FOUND, 404). Returns its id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = rawId('Share', args.id);
      await context.services.conversations.shares.revoke(context.identity.userId, id);
      return globalId('Share', id);
    },
  }),
}));
