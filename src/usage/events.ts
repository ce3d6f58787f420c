/**
 * "Your usage changed" for the user's open pages (the chat page's meter). Workers publish it
 * once a generation's usage is recorded, API processes when an admin changes a quota; it
 * travels on the process's one pub/sub (Redis when configured). The payload only says whose:
 * subscribers read the figures afresh, so a lost or late event leaves nothing stale for long.
 */
import type { Logger } from '../observability/logger.ts';
import type { PubSub } from '../pubsub.ts';

export interface UsageChanged {
  userId: string;
}

export interface UsageEvents {
  changed(userId: string): void;
  subscribe(userId: string): AsyncIterableIterator<UsageChanged>;
}

export function createUsageEvents(pubsub: PubSub, prefix: string, logger: Logger): UsageEvents {
  const channel = (userId: string) => `${prefix}usage:${userId}`;
  return {
    changed: (userId) =>
      void pubsub.publish<UsageChanged>(channel(userId), { userId }).catch((error: unknown) => logger.warn({ err: error, userId }, 'usage event not published')),
    subscribe: (userId) => pubsub.iterate<UsageChanged>(channel(userId)),
  };
}
