import { Repeater } from '@repeaterjs/repeater';
import type { Redis } from 'ioredis';
import { createRedisPubSub, subscriberOf, type PubSub } from '../pubsub.ts';
import type { GenerationMeta, GenerationStatus, StreamEvent } from './events.ts';
import { LeaseLostError, ReplayMerger, subscriptionBuffer, type StreamStore } from './stream-store.ts';

export interface RedisStreamStoreOptions {
  /** Commands and publishing go through this client, which the caller owns and closes. */
  redis: Redis;
  /** The process's pub/sub on the same Redis; without one, the store opens (and closes) its own. */
  pubsub?: PubSub;
  /** The subscribing connection of `pubsub`: when it reconnects, open subscriptions catch up from the log. */
  subscriber?: Redis;
  ttlSeconds: number;
  /** Key and channel prefix, so that deployments (and tests) sharing a Redis stay apart. */
  prefix?: string;
}

/**
 * The lease's scripts. A write checks the lease and writes in one script, so that no claim can
 * come between the check and the write: once a new writer has its token, the old one's next
 * write is refused, and everything the old one wrote before is in the log the new one reads.
 * A refused write returns the lease's holder ('' when it lapsed); a done one returns 1.
 */
const HOLDS_LEASE = `
local lease = redis.call('HMGET', KEYS[1], 'token', 'owner')
if lease[1] ~= ARGV[1] then return lease[1] and lease[2] or '' end
`;

const LEASE_SCRIPTS = {
  /** KEYS: fence, lease. ARGV: owner, lease ms, fence seconds. */
  gptqlStreamClaim: {
    keys: 2,
    lua: `
local token = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'token', token, 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return token
`,
  },
  /** KEYS: lease. ARGV: token, lease ms. */
  gptqlStreamRenew: {
    keys: 1,
    lua: `${HOLDS_LEASE}
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
  },
  /** KEYS: lease, log. ARGV: token, event, log seconds, channel. Published here too, so that a writer never dies between the two. */
  gptqlStreamAppend: {
    keys: 2,
    lua: `${HOLDS_LEASE}
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
`,
  },
  /** KEYS: lease, meta. ARGV: token, meta ('' when there is none: only the check), meta seconds. */
  gptqlStreamSetMeta: {
    keys: 2,
    lua: `${HOLDS_LEASE}
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
return 1
`,
  },
};

type Written = 1 | string;

interface LeaseCommands {
  gptqlStreamClaim(fence: string, lease: string, owner: string, leaseMs: number, fenceSeconds: number): Promise<number>;
  gptqlStreamRenew(lease: string, token: number, leaseMs: number): Promise<Written>;
  gptqlStreamAppend(lease: string, log: string, token: number, event: string, logSeconds: number, channel: string): Promise<Written>;
  gptqlStreamSetMeta(lease: string, meta: string, token: number, value: string, metaSeconds: number): Promise<Written>;
}

/** Adds the scripts to the client as commands (EVALSHA, loaded on first use); defining them again is harmless. */
function withLeaseCommands(redis: Redis): Redis & LeaseCommands {
  for (const [name, { keys, lua }] of Object.entries(LEASE_SCRIPTS)) redis.defineCommand(name, { lua, numberOfKeys: keys });
  return redis as Redis & LeaseCommands;
}

const CATCH_UP_ATTEMPTS = 5;
const CATCH_UP_RETRY_MS = 1000;

/**
 * Calls `handler` each time `subscriber` has reconnected and subscribed again. ioredis emits
 * 'ready' just before it sends the SUBSCRIBEs again; a PING sent after them (next tick) is
 * answered after them, so once it is, the channels are live and the log can be read.
 */
function whenResubscribed(subscriber: Redis | undefined, handler: () => void): void {
  subscriber?.on('ready', () => setImmediate(() => subscriber.ping().then(handler, () => {})));
}

export function createRedisStreamStore(options: RedisStreamStoreOptions): StreamStore {
  const prefix = options.prefix ?? 'gptql:';
  const ttl = options.ttlSeconds;
  const redis = withLeaseCommands(options.redis);
  // A subscribing connection can do nothing else: without a shared pub/sub, this one is the store's own.
  const ownSubscriber = options.pubsub ? undefined : subscriberOf(redis);
  const pubsub = options.pubsub ?? createRedisPubSub(redis, ownSubscriber!);
  // One catch-up per open subscription (their count is activeSubscriptions).
  const catchUps = new Set<() => void>();
  whenResubscribed(options.pubsub ? options.subscriber : ownSubscriber, () => catchUps.forEach((catchUp) => catchUp()));
  const metaKey = (id: string) => `${prefix}gen:${id}:meta`;
  const logKey = (id: string) => `${prefix}gen:${id}:events`;
  const cancelKey = (id: string) => `${prefix}gen:${id}:cancel`;
  const leaseKey = (id: string) => `${prefix}gen:${id}:lease`;
  // Outlives every lease of the generation, so that a token is never given out twice.
  const fenceKey = (id: string) => `${prefix}gen:${id}:fence`;
  const channel = (id: string) => `${prefix}gen:${id}`;
  const cancelChannel = `${prefix}gen:cancel`;

  function written(id: string, result: Written): void {
    if (result !== 1) throw new LeaseLostError(id, result || undefined);
  }

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
    async claim(id, owner, ttlMs) {
      return redis.gptqlStreamClaim(fenceKey(id), leaseKey(id), owner, Math.ceil(ttlMs), ttl);
    },
    async renew(id, token, ttlMs) {
      return (await redis.gptqlStreamRenew(leaseKey(id), token, Math.ceil(ttlMs))) === 1;
    },
    async setStatus(id, token, status: GenerationStatus) {
      // Read-modify-write is safe here: only the lease holder changes the status, and the write
      // is refused once it is not the holder any more.
      const meta = await this.get(id);
      const value = meta ? JSON.stringify({ ...meta, status }) : '';
      written(id, await redis.gptqlStreamSetMeta(leaseKey(id), metaKey(id), token, value, ttl));
    },
    async append(id, token, event) {
      written(id, await redis.gptqlStreamAppend(leaseKey(id), logKey(id), token, JSON.stringify(event), ttl, channel(id)));
    },
    history: readLog,
    subscribe(id, after) {
      return new Repeater<StreamEvent>(async (push, stop) => {
        const merger = new ReplayMerger(after);
        // Live events that arrive before the log is read wait here, then go through the merger.
        let early: StreamEvent[] | undefined = [];
        let rereading = false;
        const reread = (attemptsLeft = 1) => {
          if (rereading) return;
          rereading = true;
          void readLog(id)
            .then((log) => {
              rereading = false;
              deliver(log);
            })
            .catch(() => {
              rereading = false;
              if (attemptsLeft > 1) setTimeout(() => reread(attemptsLeft - 1), CATCH_UP_RETRY_MS);
            });
        };
        const deliver = (batch: StreamEvent[]) => {
          for (const event of merger.accept(batch)) void push(event);
          if (merger.finished) stop();
          else if (merger.waitingForGap) reread();
        };
        // Redis was away: whatever was published meanwhile is only in the log. The commands
        // connection may come back a little after the subscriber: a few tries.
        const catchUp = () => reread(CATCH_UP_ATTEMPTS);
        const unsubscribe = await pubsub.subscribe<StreamEvent>(channel(id), (event) => {
          if (early) early.push(event);
          else deliver([event]);
        });
        catchUps.add(catchUp);
        try {
          // Subscribed first, then read: an event is either in the log already or arrives live.
          const log = await readLog(id);
          const pending = early;
          early = undefined;
          deliver([...log, ...pending]);
          await stop;
        } finally {
          unsubscribe();
          catchUps.delete(catchUp);
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
    activeSubscriptions: () => catchUps.size,
    async close() {
      ownSubscriber?.disconnect();
    },
  };
}
