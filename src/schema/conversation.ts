import type { Context } from '../context.ts';
import { badInput, notFound } from '../errors.ts';
import { ConversationRepository, type ConversationRecord } from '../store/conversations.ts';
import { isId } from '../store/ids.ts';
import type { ConversationEvent } from '../events.ts';
import { actor } from '../observability/audit.ts';
import { importConversation } from '../export/import.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { MessageConnection, messageCursor } from './message.ts';

export const MAX_TITLE_LENGTH = 200;
export const MAX_SYSTEM_PROMPT_LENGTH = 8_000;

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

function title(value: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_TITLE_LENGTH) {
    throw badInput(`title must be 1 to ${MAX_TITLE_LENGTH} characters`, { argument: 'title' });
  }
  return trimmed;
}

function systemPrompt(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value.length > MAX_SYSTEM_PROMPT_LENGTH) {
    throw badInput(`systemPrompt must be at most ${MAX_SYSTEM_PROMPT_LENGTH} characters`, { argument: 'systemPrompt' });
  }
  return value;
}

/** The requesting user's conversation, or NOT_FOUND: for a malformed id, a deleted one or someone else's. */
export async function ownConversation(context: Context, id: string): Promise<ConversationRecord> {
  const conversation = isId(id) ? await context.loaders.conversation.load(id) : undefined;
  if (!conversation) throw notFound('Conversation');
  return conversation;
}

function publish(context: Context, event: ConversationEvent) {
  context.services.events.publish('conversation', event.conversationId, event);
}

builder.queryFields((t) => ({
  conversation: t.field({
    type: ConversationRef,
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => ownConversation(context, String(args.id)),
  }),
  conversations: t.field({
    type: ConversationConnection,
    description: 'The user’s conversations, newest first.',
    authScopes: { authenticated: true },
    args: pageArgs,
    resolve: async (_root, args, context) =>
      toConnection(
        await context.services.conversations.list(context.identity!.userId, args),
        ConversationRepository.cursorOf,
        args.after,
      ),
  }),
}));

const CreateConversationInput = builder.inputType('CreateConversationInput', {
  fields: (t) => ({
    title: t.string({ required: false, description: 'Defaults to "New conversation".' }),
    systemPrompt: t.string({ required: false }),
  }),
});

builder.mutationFields((t) => ({
  createConversation: t.field({
    type: ConversationRef,
    authScopes: { authenticated: true },
    args: { input: t.arg({ type: CreateConversationInput, required: false }) },
    resolve: (_root, args, context) =>
      context.services.conversations.create(context.identity!.userId, {
        title: title(args.input?.title ?? 'New conversation'),
        systemPrompt: systemPrompt(args.input?.systemPrompt),
      }),
  }),
  renameConversation: t.field({
    type: ConversationRef,
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }), title: t.arg.string({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = String(args.id);
      const newTitle = title(args.title);
      const updated = isId(id)
        ? await context.services.conversations.update(context.identity!.userId, id, { title: newTitle })
        : undefined;
      if (!updated) throw notFound('Conversation');
      publish(context, { kind: 'RENAMED', conversationId: id, conversation: updated });
      return updated;
    },
  }),
  importConversation: t.field({
    type: ConversationRef,
    description: 'Re-creates a conversation from its JSON export (`GET /conversations/{id}/export?format=json`), under new ids.',
    authScopes: { authenticated: true },
    args: { data: t.arg({ type: 'JSONObject', required: true }) },
    resolve: async (_root, args, context) => {
      const { services } = context;
      const conversation = await importConversation(
        {
          conversations: services.conversations,
          messages: services.messages,
          maxMessageChars: services.config.generation.maxMessageChars,
          maxTitleLength: MAX_TITLE_LENGTH,
          maxSystemPromptLength: MAX_SYSTEM_PROMPT_LENGTH,
        },
        context.identity!.userId,
        args.data,
      );
      services.audit('conversation.imported', { ...actor(context), conversationId: conversation.conversationId });
      return conversation;
    },
  }),
  deleteConversation: t.id({
    description: 'Deletes the conversation and all its messages; returns its id.',
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = String(args.id);
      const deleted = isId(id) && (await context.services.conversations.delete(context.identity!.userId, id));
      if (!deleted) throw notFound('Conversation');
      context.services.audit('conversation.deleted', { ...actor(context), conversationId: id });
      publish(context, { kind: 'DELETED', conversationId: id, conversation: null });
      return id;
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
  conversationEvents: t.field({
    type: ConversationEventRef,
    description: 'Changes to one conversation, for the user’s other devices.',
    authScopes: { authenticated: true },
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_root, args, context) => {
      const conversation = await ownConversation(context, String(args.id));
      return context.services.events.subscribe('conversation', conversation.conversationId);
    },
    resolve: (event) => event,
  }),
}));
