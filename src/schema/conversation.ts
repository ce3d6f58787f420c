import type { ConversationEvent } from '../conversations/events.ts';
import type { AuthenticatedContext } from '../context.ts';
import { actor } from '../observability/audit.ts';
import { ConversationRepository, type ConversationRecord } from '../store/conversations.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { MessageConnection, messageCursor } from './message.ts';

export const ConversationRef = builder.objectRef<ConversationRecord>('Conversation').implement({
  fields: (t) => ({
    id: t.exposeID('conversationId'),
    title: t.exposeString('title'),
    systemPrompt: t.exposeString('systemPrompt', { nullable: true }),
    messageCount: t.int({ resolve: (c) => c.messageCount ?? 0 }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (c) => c.updatedAt }),
    messages: t.field({
      type: MessageConnection,
      description: 'Messages in the order they were written.',
      args: pageArgs,
      resolve: async (conversation, args, context) =>
        toConnection(await context.services.messages.list(conversation.conversationId, args), messageCursor, args.after),
    }),
  }),
});

const ConversationConnection = builder.connectionObject({ type: ConversationRef, name: 'ConversationConnection' });

/** Reads the requesting user's conversations through the request's loader (batched, cached). */
const viaLoader = (context: AuthenticatedContext) => (conversationId: string) => context.loaders.conversation.load(conversationId);

/** The requesting user's conversation, or NOT_FOUND. */
export const ownConversation = (context: AuthenticatedContext, id: string) =>
  context.services.conversations.own(context.identity.userId, id, viaLoader(context));

builder.queryFields((t) => ({
  conversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => ownConversation(context, String(args.id)),
  }),
  conversations: t.withAuth({ authenticated: true }).field({
    type: ConversationConnection,
    description: 'The user’s conversations, newest first.',
    args: pageArgs,
    resolve: async (_root, args, context) =>
      toConnection(await context.services.conversations.list(context.identity.userId, args), ConversationRepository.cursorOf, args.after),
  }),
}));

const CreateConversationInput = builder.inputType('CreateConversationInput', {
  fields: (t) => ({
    title: t.string({ required: false, description: 'Defaults to "New conversation".' }),
    systemPrompt: t.string({ required: false }),
  }),
});

builder.mutationFields((t) => ({
  createConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    args: { input: t.arg({ type: CreateConversationInput, required: false }) },
    resolve: (_root, args, context) => context.services.conversations.create(context.identity.userId, args.input ?? {}),
  }),
  renameConversation: t.withAuth({ authenticated: true }).field({
    type: ConversationRef,
    args: { id: t.arg.id({ required: true }), title: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => context.services.conversations.rename(context.identity.userId, String(args.id), args.title),
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
      await context.services.conversations.delete(actor(context), String(args.id));
      return String(args.id);
    },
  }),
}));

const ConversationEventKindEnum = builder.enumType('ConversationEventKind', {
  values: ['RENAMED', 'DELETED', 'MESSAGE_ADDED'] as const,
});

const ConversationEventRef = builder.objectRef<ConversationEvent>('ConversationEvent').implement({
  fields: (t) => ({
    kind: t.field({ type: ConversationEventKindEnum, resolve: (e) => e.kind }),
    conversationId: t.exposeID('conversationId'),
    conversation: t.field({ type: ConversationRef, nullable: true, resolve: (e) => e.conversation }),
  }),
});

builder.subscriptionFields((t) => ({
  conversationEvents: t.withAuth({ authenticated: true }).field({
    type: ConversationEventRef,
    description: 'Changes to one conversation, for the user’s other devices.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_root, args, context) => context.services.conversations.follow(context.identity.userId, String(args.id), viaLoader(context)),
    resolve: (event) => event,
  }),
}));
