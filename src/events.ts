/**
 * Conversation change events for other devices of the same user. In-process pub/sub for now;
 * the streaming issue moves it onto Redis behind the same interface.
 */
import { createPubSub } from 'graphql-yoga';
import type { ConversationRecord } from './store/conversations.ts';

export type ConversationEventKind = 'RENAMED' | 'DELETED' | 'MESSAGE_ADDED';

export interface ConversationEvent {
  kind: ConversationEventKind;
  conversationId: string;
  conversation: ConversationRecord | null;
}

export function createEvents() {
  return createPubSub<{ conversation: [conversationId: string, event: ConversationEvent] }>();
}

export type Events = ReturnType<typeof createEvents>;
