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
  conversationId: string;
  conversation: ConversationRecord | null;
  /** For MESSAGE_ADDED: the new message's id. */
  messageId?: string | null;
}

export interface ConversationEvents {
  renamed(conversation: ConversationRecord): void;
  deleted(conversationId: string): void;
  messageAdded(conversation: ConversationRecord, messageId: string): void;
  updated(conversation: ConversationRecord): void;
  /** The conversation's events from now on; ends when the subscriber returns. */
  subscribe(conversationId: string): AsyncIterableIterator<ConversationEvent>;
}

/**
 * Events are a courtesy to other devices: the change they announce is already stored, so a
 * publish that fails is logged, never an error for the request that made the change.
 */
export function createConversationEvents(pubsub: PubSub, prefix: string, logger: Logger): ConversationEvents {
  const channel = (conversationId: string) => `${prefix}conversation:${conversationId}`;
  const publish = (event: ConversationEvent) =>
    void pubsub.publish(channel(event.conversationId), event).catch((error: unknown) => logger.warn({ err: error, conversationId: event.conversationId }, 'conversation event not published'));
  return {
    renamed: (conversation) => publish({ kind: 'RENAMED', conversationId: conversation.conversationId, conversation }),
    deleted: (conversationId) => publish({ kind: 'DELETED', conversationId, conversation: null }),
    messageAdded: (conversation, messageId) => publish({ kind: 'MESSAGE_ADDED', conversationId: conversation.conversationId, conversation, messageId }),
    updated: (conversation) => publish({ kind: 'UPDATED', conversationId: conversation.conversationId, conversation }),
    subscribe: (conversationId) => pubsub.iterate<ConversationEvent>(channel(conversationId)),
  };
}
