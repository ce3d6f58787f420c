import { Repeater } from '@repeaterjs/repeater';
import type { Redis } from 'ioredis';
import { createRedisPubSub, type PubSub } from '../pubsub.ts';
import type { GenerationMeta, GenerationStatus, StreamEvent } from './events.ts';
import { ReplayMerger, subscriptionBuffer, type StreamStore } from './stream-store.ts';

export interface RedisStreamStoreOptions {
  /** Commands and publishing go through this client, which the caller owns and closes. */
  redis: Redis;
  /** The process's pub/sub on the same Redis; without one, the store opens (and closes) its own. */
  pubsub?: PubSub;
  ttlSeconds: number;
  /** Key and channel prefix, so that deployments (and tests) sharing a Redis stay apart. */
  prefix?: string;
}

export function createRedisStreamStore(options: RedisStreamStoreOptions): StreamStore {
  const prefix = options.prefix ?? 'gptql:';
  const ttl = options.ttlSeconds;
  const { redis } = options;
  // A subscribing connection can do nothing else: without a shared pub/sub, this one is the store's own.
  const ownSubscriber = options.pubsub ? undefined : redis.duplicate();
  const pubsub = options.pubsub ?? createRedisPubSub(redis, ownSubscriber!);
  const metaKey = (id: string) => `${prefix}gen:${id}:meta`;
  const logKey = (id: string) => `${prefix}gen:${id}:events`;
  const cancelKey = (id: string) => `${prefix}gen:${id}:cancel`;
  const channel = (id: string) => `${prefix}gen:${id}`;
  const cancelChannel = `${prefix}gen:cancel`;
  let active = 0;

  async function readLog(id: string): Promise<StreamEvent[]> {
    return (await redis.lrange(logKey(id), 0, -1)).map((item) => JSON.parse(item) as StreamEvent);
  }

  return {
    async create(meta) {
      await redis.set(metaKey(meta.generationId), JSON.stringify(meta), 'EX', ttl);
    },
    async get(id) {
      const raw = await redis.get(metaKey(id));
      return raw ? (JSON.parse(raw) as GenerationMeta) : undefined;
    },
    async setStatus(id, status: GenerationStatus) {
      // Read-modify-write is safe here: only the one worker running a generation changes its status.
      const meta = await this.get(id);
      if (meta) await redis.set(metaKey(id), JSON.stringify({ ...meta, status }), 'EX', ttl);
    },
    async append(id, event) {
      await redis.multi().rpush(logKey(id), JSON.stringify(event)).expire(logKey(id), ttl).exec();
      await pubsub.publish(channel(id), event);
    },
    history: readLog,
    subscribe(id, after) {
      return new Repeater<StreamEvent>(async (push, stop) => {
        const merger = new ReplayMerger(after);
        // Live events that arrive before the log is read wait here, then go through the merger.
        let early: StreamEvent[] | undefined = [];
        let rereading = false;
        const deliver = (batch: StreamEvent[]) => {
          for (const event of merger.accept(batch)) void push(event);
          if (merger.finished) stop();
          else if (merger.waitingForGap && !rereading) {
            rereading = true;
            void readLog(id)
              .then((log) => {
                rereading = false;
                deliver(log);
              })
              .catch(() => (rereading = false));
          }
        };
        const unsubscribe = await pubsub.subscribe<StreamEvent>(channel(id), (event) => {
          if (early) early.push(event);
          else deliver([event]);
        });
        active++;
        try {
          // Subscribed first, then read: an event is either in the log already or arrives live.
          const log = await readLog(id);
          const pending = early;
          early = undefined;
          deliver([...log, ...pending]);
          await stop;
        } finally {
          unsubscribe();
          active--;
        }
      }, subscriptionBuffer());
    },
    async requestCancel(id) {
      await redis.set(cancelKey(id), '1', 'EX', ttl);
      await pubsub.publish(cancelChannel, id);
    },
    async isCancelRequested(id) {
      return (await redis.exists(cancelKey(id))) === 1;
    },
    async onCancel(handler) {
      const unsubscribe = await pubsub.subscribe<string>(cancelChannel, handler);
      return async () => unsubscribe();
    },
    activeSubscriptions: () => active,
    async close() {
      ownSubscriber?.disconnect();
    },
  };
}
