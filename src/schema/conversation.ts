import type { ConversationEvent } from '../conversations/events.ts';
import type { AuthenticatedContext } from '../context.ts';
import { actor } from '../observability/audit.ts';
import { ConversationRepository, type ConversationRecord } from '../store/conversations.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { FolderRef } from './folder.ts';
import { globalId, rawId } from './global-id.ts';
import { NodeRef } from './node.ts';
import { MessageConnection, MessageRef, messageCursor } from './message.ts';

export const ConversationRef = builder.objectRef<ConversationRecord>('Conversation').implement({
  interfaces: [NodeRef],
  description: 'A conversation of yours: its messages, which may branch, and how it is organised.',
  fields: (t) => ({
    id: t.id({ description: 'The conversation’s global id.', resolve: (c) => globalId('Conversation', c.conversationId) }),
    title: t.exposeString('title', { description: 'Its title: yours, or the model’s after the first reply.' }),
    systemPrompt: t.exposeString('systemPrompt', { nullable: true, description: 'Instructions given to the model before every turn; null: its folder’s, or none.' }),
    messageCount: t.int({ description: 'Messages in it, of every branch.', resolve: (c) => c.messageCount ?? 0 }),
    pinned: t.boolean({ description: 'Pinned conversations come first in `conversations`.', resolve: (c) => c.pinned ?? false }),
    archived: t.boolean({ description: 'Archived conversations are left out of `conversations` unless its filter asks for them.', resolve: (c) => c.archived ?? false }),
    tags: t.stringList({ description: 'Your tags, to filter `conversations` by.', resolve: (c) => c.tags ?? [] }),
    folder: t.field({
      type: FolderRef,
      nullable: true,
      description: 'The folder it is in; null: none.',
      resolve: async (c, _args, context) => (c.folderId ? ((await context.services.conversations.organiser.findFolder(c.userId, c.folderId)) ?? null) : null),
    }),
    createdAt: t.field({ type: 'DateTime', description: 'When it was started.', resolve: (c) => c.createdAt }),
    updatedAt: t.field({ type: 'DateTime', description: 'When it last changed (a message, a rename, a move).', resolve: (c) => c.updatedAt }),
    activeLeafId: t.id({
      nullable: true,
      description: 'The last message of the branch shown and continued (`sendMessage` without `parentId` follows it); null for an empty conversation.',
      resolve: async (conversation, _args, context) => {
        const leaf = context.services.conversations.activeLeaf(conversation, await context.loaders.messageTree.load(conversation.conversationId));
        return leaf ? globalId('Message', leaf) : null;
      },
    }),
    branch: t.field({
      type: [MessageRef],
      description: 'The messages from the first to `leafId` (default: the active leaf), oldest first: one version of the conversation, as the model is given it.',
      args: { leafId: t.arg.id({ required: false }) },
      resolve: (conversation, args, context) => context.services.conversations.branch(conversation, args.leafId == null ? null : rawId('Message', args.leafId)),
    }),
    messages: t.field({
      type: MessageConnection,
      description: 'Every message, of every branch, in the order they were written.',
      args: pageArgs,
      resolve: async (conversation, args, context) =>
        toConnection(await context.services.messages.list(conversation.conversationId, args), messageCursor, args.after),
    }),
  }),
});

const ConversationConnection = builder.connectionObject({ type: ConversationRef, name: 'ConversationConnection', description: 'A page of conversations.' }, { description: 'A conversation in a page, with its cursor.' });

/** Reads the requesting user's conversations through the request's loader (batched, cached). */
const viaLoader = (context: AuthenticatedContext) => (conversationId: string) => context.loaders.conversation.load(conversationId);

/** The requesting user's conversation, or NOT_FOUND. */
export const ownConversation = (context: AuthenticatedContext, id: string) =>
  context.services.conversations.own(context.identity.userId, id, viaLoader(context));

const ConversationFilterInput = builder.inputType('ConversationFilter', {
  description: 'Conditions a listed conversation meets, all of them.',
  fields: (t) => ({
    archived: t.boolean({ required: false, description: 'true: only archived conversations; otherwise archived ones are left out.' }),
    pinned: t.boolean({ required: false }),
    tag: t.string({ required: false }),
    folderId: t.id({ required: false, description: 'One of your folders (NOT_FOUND otherwise).' }),
  }),
});

builder.queryFields((t) => ({
  conversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'One of your conversations; another user’s is NOT_FOUND.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => ownConversation(context, rawId('Conversation', args.id)),
  }),
  conversations: t.withAuth({ authenticated: true }).field({
    type: ConversationConnection,
    description: 'The user’s conversations, newest first; archived ones only with `filter: { archived: true }`.',
    args: { ...pageArgs, filter: t.arg({ type: ConversationFilterInput, required: false }) },
    resolve: async (_root, args, context) =>
      toConnection(
        await context.services.conversations.list(context.identity.userId, args, { ...args.filter, folderId: args.filter?.folderId != null ? rawId('Folder', args.filter.folderId) : null }),
        ConversationRepository.cursorOf,
        args.after,
      ),
  }),
}));

const CreateConversationInput = builder.inputType('CreateConversationInput', {
  description: 'A new, empty conversation.',
  fields: (t) => ({
    title: t.string({ required: false, description: 'Defaults to "New conversation".' }),
    systemPrompt: t.string({ required: false }),
  }),
});

builder.mutationFields((t) => ({
  createConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Starts an empty conversation (sendMessage without conversationId starts one with its first message).',
    args: { input: t.arg({ type: CreateConversationInput, required: false }) },
    resolve: (_root, args, context) => context.services.conversations.create(context.identity.userId, args.input ?? {}),
  }),
  renameConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Gives a conversation your title (the model no longer titles it).',
    args: { id: t.arg.id({ required: true }), title: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.rename(context.identity.userId, rawId('Conversation', args.id), args.title),
  }),
  pinConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Pins or unpins a conversation: pinned ones come first.',
    args: { id: t.arg.id({ required: true }), pinned: t.arg.boolean({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.organiser.pin(context.identity.userId, rawId('Conversation', args.id), args.pinned),
  }),
  archiveConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Archives a conversation (out of `conversations` unless asked for), or brings it back.',
    args: { id: t.arg.id({ required: true }), archived: t.arg.boolean({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.organiser.archive(context.identity.userId, rawId('Conversation', args.id), args.archived),
  }),
  setConversationTags: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Replaces the tags: up to 10, each 1 to 32 characters.',
    args: { id: t.arg.id({ required: true }), tags: t.arg.stringList({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.organiser.setTags(context.identity.userId, rawId('Conversation', args.id), args.tags),
  }),
  moveConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Into one of your folders, or out of any with `folderId: null`.',
    args: { id: t.arg.id({ required: true }), folderId: t.arg.id({ required: false }) },
    resolve: (_root, args, context) =>
      context.services.conversations.organiser.move(context.identity.userId, rawId('Conversation', args.id), args.folderId == null ? null : rawId('Folder', args.folderId)),
  }),
  setActiveLeaf: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Shows and continues the branch through `messageId` (to its newest reply below it, if any): how a client moves between branches.',
    args: { conversationId: t.arg.id({ required: true }), messageId: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.setActiveLeaf(context.identity.userId, rawId('Conversation', args.conversationId), rawId('Message', args.messageId), viaLoader(context)),
  }),
  forkConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'A new conversation holding a copy of the branch from the first message to `messageId`, with the same title and system prompt.',
    args: { messageId: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.fork(context.identity.userId, rawId('Message', args.messageId)),
  }),
  importConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    description: 'Re-creates a conversation from its JSON export (`GET /conversations/{id}/export?format=json`), under new ids.',
    args: { data: t.arg({ type: 'JSONObject', required: true }) },
    resolve: (_root, args, context) => context.services.conversations.import(actor(context), args.data),
  }),
  deleteConversation: t.withAuth({ authenticated: true }).id({
    description: 'Deletes the conversation and all its messages; returns its id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = rawId('Conversation', args.id);
      await context.services.conversations.delete(actor(context), id);
      return globalId('Conversation', id);
    },
  }),
}));

const ConversationEventKindEnum = builder.enumType('ConversationEventKind', {
  description: 'What happened to a conversation.',
  values: ['RENAMED', 'DELETED', 'MESSAGE_ADDED', 'UPDATED'] as const,
});

const ConversationEventRef = builder.objectRef<ConversationEvent>('ConversationEvent').implement({
  description: 'A change to a conversation, as `conversationEvents` streams it.',
  fields: (t) => ({
    kind: t.field({ type: ConversationEventKindEnum, description: 'What happened.', resolve: (e) => e.kind }),
    conversationId: t.id({ description: 'Which conversation (its global id).', resolve: (e) => globalId('Conversation', e.conversationId) }),
    conversation: t.field({ type: ConversationRef, nullable: true, description: 'The conversation as it is now; null once deleted.', resolve: (e) => e.conversation }),
  }),
});

builder.subscriptionFields((t) => ({
  conversationEvents: t.withAuth({ authenticated: true }).field({
    type: ConversationEventRef,
    description: 'Changes to one conversation, for the user’s other devices.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, args, context) => context.services.conversations.follow(context.identity.userId, rawId('Conversation', args.id), viaLoader(context)),
    resolve: (event) => event,
  }),
}));
