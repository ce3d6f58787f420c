/**
 * Conversation change events for the user's other devices. API and worker processes both
 * publish them (a reply is added by the worker), so they travel on the process's one pub/sub:
 * over Redis when it is configured, in-process otherwise.
 */
import type { Logger } from '../observability/logger.ts';
import type { PubSub } from '../pubsub.ts';
import type { ConversationRecord } from '../store/conversations.ts';

/** UPDATED: anything else about it changed (the active branch, and later pin, archive, tags, folder). */
export type ConversationEventKind = 'RENAMED' | 'DELETED' | 'MESSAGE_ADDED' | 'UPDATED';

export interface ConversationEvent {
  kind: ConversationEventKind;
  /** The owner: every event also goes to the owner's channel (their search index listens there). */
  userId: string;
  conversationId: string;
  conversation: ConversationRecord | null;
  /** For MESSAGE_ADDED: the new message's id. */
  messageId?: string | null;
}

export interface ConversationEvents {
  renamed(conversation: ConversationRecord): void;
  deleted(userId: string, conversationId: string): void;
  messageAdded(conversation: ConversationRecord, messageId: string): void;
  updated(conversation: ConversationRecord): void;
  /** The conversation's events from now on; ends when the subscriber returns. */
  subscribe(conversationId: string): AsyncIterableIterator<ConversationEvent>;
  /** Every event of the user's conversations from now on, to `handler`; resolves once listening, to the function that stops it. */
  followUser(userId: string, handler: (event: ConversationEvent) => void): Promise<() => void>;
}

/**
 * Events are a courtesy to other devices: the change they announce is already stored, so a
 * publish that fails is logged, never an error for the request that made the change.
 */
export function createConversationEvents(pubsub: PubSub, prefix: string, logger: Logger): ConversationEvents {
  const channel = (conversationId: string) => `${prefix}conversation:${conversationId}`;
  const userChannel = (userId: string) => `${prefix}conversations-of:${userId}`;
  const publish = (event: ConversationEvent) => {
    for (const name of [channel(event.conversationId), userChannel(event.userId)]) {
      void pubsub.publish(name, event).catch((error: unknown) => logger.warn({ err: error, conversationId: event.conversationId }, 'conversation event not published'));
    }
  };
  const of = (conversation: ConversationRecord) => ({ userId: conversation.userId, conversationId: conversation.conversationId, conversation });
  return {
    renamed: (conversation) => publish({ kind: 'RENAMED', ...of(conversation) }),
    deleted: (userId, conversationId) => publish({ kind: 'DELETED', userId, conversationId, conversation: null }),
    messageAdded: (conversation, messageId) => publish({ kind: 'MESSAGE_ADDED', ...of(conversation), messageId }),
    updated: (conversation) => publish({ kind: 'UPDATED', ...of(conversation) }),
    subscribe: (conversationId) => pubsub.iterate<ConversationEvent>(channel(conversationId)),
    followUser: (userId, handler) => pubsub.subscribe<ConversationEvent>(userChannel(userId), handler),
  };
}
