/**
 * Conversation change events for the user's other devices. Published by API and worker
 * processes alike, so with Redis configured they travel over Redis pub/sub; embedded, in-process.
 */
import { createPubSub } from 'graphql-yoga';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis } from 'ioredis';
import type { ConversationRecord } from './store/conversations.ts';

export type ConversationEventKind = 'RENAMED' | 'DELETED' | 'MESSAGE_ADDED';

export interface ConversationEvent {
  kind: ConversationEventKind;
  conversationId: string;
  conversation: ConversationRecord | null;
  /** For MESSAGE_ADDED: the new message's id. */
  messageId?: string | null;
}

type Channels = { conversation: [conversationId: string, event: ConversationEvent] };

export function createEvents(redisUrl?: string) {
  if (!redisUrl) return { pubsub: createPubSub<Channels>(), close: async () => {} };
  const publishClient = new Redis(redisUrl);
  const subscribeClient = new Redis(redisUrl);
  return {
    pubsub: createPubSub<Channels>({ eventTarget: createRedisEventTarget({ publishClient, subscribeClient }) }),
    async close() {
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}

export type Events = ReturnType<typeof createEvents>['pubsub'];
