/**
 * The process's one publish/subscribe mechanism, for generation token events and conversation
 * events alike: graphql-subscriptions' engine, over Redis (graphql-redis-subscriptions, one
 * subscribing connection for every channel) when Redis is configured, in-process otherwise.
 * Payloads travel as JSON.
 */
import { PubSub as MemoryPubSub, type PubSubEngine } from 'graphql-subscriptions';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Redis } from 'ioredis';

export interface PubSub {
  publish<T>(channel: string, payload: T): Promise<void>;
  /** Calls `handler` with each payload published on `channel` from now on; resolves once listening. */
  subscribe<T>(channel: string, handler: (payload: T) => void): Promise<() => void>;
  /** The channel's payloads as an async iterable; `return()` unsubscribes at once. */
  iterate<T>(channel: string): AsyncIterableIterator<T>;
}

function wrap(engine: PubSubEngine): PubSub {
  return {
    publish: (channel, payload) => engine.publish(channel, payload),
    async subscribe<T>(channel: string, handler: (payload: T) => void) {
      const id = await engine.subscribe(channel, handler, {});
      return () => void engine.unsubscribe(id);
    },
    iterate: <T>(channel: string) => engine.asyncIterableIterator<T>(channel),
  };
}

export function createMemoryPubSub(): PubSub {
  return wrap(new MemoryPubSub());
}

/**
 * Publishes through `publisher` (an ordinary command connection the caller owns) and listens on
 * `subscriber`, a connection that can do nothing else once it subscribes (the caller closes it).
 */
export function createRedisPubSub(publisher: Redis, subscriber: Redis): PubSub {
  return wrap(new RedisPubSub({ publisher, subscriber }));
}

/**
 * A subscribing connection beside `commands`. It waits for messages as long as it lives (no
 * command timeout), and while Redis is away its (UN)SUBSCRIBEs wait for it to return instead of
 * failing: graphql-redis-subscriptions sends UNSUBSCRIBE without waiting on it, so a failure
 * there would be an unhandled rejection, and a channel left subscribed after the reconnection.
 * Few wait: a new subscription needs the commands connection first, which fails fast.
 */
export function subscriberOf(commands: Redis): Redis {
  return commands.duplicate({ commandTimeout: undefined, maxRetriesPerRequest: null });
}
