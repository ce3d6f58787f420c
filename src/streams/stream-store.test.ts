import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { StreamEvent } from './events.ts';
import { LeaseLostError, type StreamStore } from './stream-store.ts';
import { createMemoryStreamStore } from './stream-store-memory.ts';
import { createRedisStreamStore } from './stream-store-redis.ts';
import { createRedisPubSub } from '../pubsub.ts';
import { REDIS_URL } from '../../test/support/services.ts';
import { completedEvent } from '../../test/support/stream-events.ts';

const token = (index: number): StreamEvent => ({ kind: 'token', index, delta: `t${index} ` });

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const seen: StreamEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

const drain = async (events: AsyncIterable<StreamEvent>) => (await collect(events)).map((event) => event.index);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Drains `events`, failing if they have not ended within `ms` (a subscription that never ends would hang the test). */
async function drainWithin(ms: number, events: AsyncIterable<StreamEvent>): Promise<number[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`subscription still open after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([drain(events), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function contract(name: string, make: () => StreamStore) {
  describe(`${name} stream store`, () => {
    // Made when the suite runs, not when it is collected: a skipped suite opens no connection.
    let store: StreamStore;
    beforeAll(() => {
      store = make();
    });
    afterAll(() => store?.close());
    const id = () => crypto.randomUUID();
    /** Claims `g` and returns an append that carries the claim's token. */
    const writer = async (g: string) => {
      const fence = await store.claim(g, 'writer', 60_000);
      return (event: StreamEvent) => store.append(g, fence, event);
    };

    it('keeps generation metadata and status', async () => {
      const g = id();
      await store.create({ generationId: g, userId: 'u1', status: 'QUEUED', createdAt: new Date().toISOString() });
      await store.setStatus(g, await store.claim(g, 'writer', 60_000), 'RUNNING');
      expect(await store.get(g)).toMatchObject({ userId: 'u1', status: 'RUNNING' });
      expect(await store.get(id())).toBeUndefined();
    });

    it('replays then streams live, each event once and in order, for every `after`', async () => {
      const g = id();
      const append = await writer(g);
      for (const i of range(1, 5)) await append(token(i));
      const subscribers = [0, 2, 5].map((after) => drain(store.subscribe(g, after)));
      // Live events race the replay reads.
      for (const i of range(6, 40)) await append(token(i));
      await append(completedEvent(41));
      const [all, fromTwo, fromFive] = await Promise.all(subscribers);
      expect(all).toEqual(range(1, 41));
      expect(fromTwo).toEqual(range(3, 41));
      expect(fromFive).toEqual(range(6, 41));
      // After the end: replay only, and the stream still ends.
      expect(await drain(store.subscribe(g, 38))).toEqual([39, 40, 41]);
      expect((await store.history(g)).map((e) => e.index)).toEqual(range(1, 41));
    });

    for (const [where, beyond] of [['at', 0], ['past', 5]] as const) {
      it(`ends at once, delivering nothing, when resumed ${where} the terminal event`, async () => {
        const g = id();
        const append = await writer(g);
        for (const i of range(1, 3)) await append(token(i));
        await append(completedEvent(4));
        const before = store.activeSubscriptions();
        expect(await drainWithin(1_000, store.subscribe(g, 4 + beyond))).toEqual([]);
        expect(store.activeSubscriptions()).toBe(before);
      });
    }

    it('serves many subscribers joining while events are appended', async () => {
      const g = id();
      const append = await writer(g);
      const joined: Promise<number[]>[] = [];
      for (const i of range(1, 60)) {
        await append(token(i));
        if (i % 6 === 0) joined.push(drain(store.subscribe(g, i - 3)));
      }
      await append(completedEvent(61));
      const results = await Promise.all(joined);
      results.forEach((seen, k) => expect(seen).toEqual(range((k + 1) * 6 - 2, 61)));
    });

    it('stops delivering to a subscriber that leaves', async () => {
      const g = id();
      const append = await writer(g);
      const iterator = store.subscribe(g, 0)[Symbol.asyncIterator]();
      await append(token(1));
      expect((await iterator.next()).value).toMatchObject({ index: 1 });
      await iterator.return?.();
      await append(token(2));
      expect((await iterator.next()).done).toBe(true);
    });

    it('replays a generation longer than 1,024 events, and streams it to a reader that has not read yet', async () => {
      const g = id();
      const append = await writer(g);
      const waiting = store.subscribe(g, 0)[Symbol.asyncIterator]();
      const first = waiting.next();
      for (const i of range(1, 1500)) await append(token(i));
      await append(completedEvent(1501));
      expect(await drain(store.subscribe(g, 0))).toEqual(range(1, 1501));
      const seen = [(await first).value!.index];
      for (let next = await waiting.next(); !next.done; next = await waiting.next()) seen.push(next.value.index);
      expect(seen).toEqual(range(1, 1501));
    });

    it('counts subscriptions while they listen for live events', async () => {
      const g = id();
      const append = await writer(g);
      const before = store.activeSubscriptions();
      const left = store.subscribe(g, 0)[Symbol.asyncIterator]();
      const ended = drain(store.subscribe(g, 0));
      const pending = left.next();
      await expect.poll(() => store.activeSubscriptions()).toBe(before + 2);
      await append(token(1));
      await pending;
      await left.return?.();
      await append(completedEvent(2));
      await ended;
      await expect.poll(() => store.activeSubscriptions()).toBe(before);
    });

    it('gives each claim a greater token, and fences out the earlier holder at once', async () => {
      const g = id();
      await store.create({ generationId: g, userId: 'u1', status: 'QUEUED', createdAt: new Date().toISOString() });
      const seen = collect(store.subscribe(g, 0));
      const late: StreamEvent = { kind: 'token', index: 2, delta: 'late' };
      const first = await store.claim(g, 'first', 60_000);
      await store.append(g, first, token(1));
      const second = await store.claim(g, 'second', 60_000);
      expect(second).toBeGreaterThan(first);
      // The first lease has not run out, and is fenced out all the same.
      await expect(store.append(g, first, late)).rejects.toMatchObject({ name: 'LeaseLostError', generationId: g, holder: 'second' });
      await expect(store.append(g, first, late)).rejects.toBeInstanceOf(LeaseLostError);
      await expect(store.setStatus(g, first, 'FAILED')).rejects.toBeInstanceOf(LeaseLostError);
      expect(await store.renew(g, first, 60_000)).toBe(false);
      expect((await store.history(g)).map((e) => e.index)).toEqual([1]);
      expect(await store.get(g)).toMatchObject({ status: 'QUEUED' });
      // The new holder goes on from the log, untouched by the refused writes.
      expect(await store.renew(g, second, 60_000)).toBe(true);
      await store.setStatus(g, second, 'RUNNING');
      await store.append(g, second, token(2));
      await store.append(g, second, completedEvent(3));
      expect((await store.history(g)).map((e) => e.index)).toEqual([1, 2, 3]);
      expect(await store.get(g)).toMatchObject({ status: 'RUNNING' });
      // Refused events were not published either: a live subscriber saw only the holders' events.
      expect(await seen).toEqual(await store.history(g));
      expect((await store.history(g))[1]).toEqual(token(2));
    });

    it('refuses writes and renewal once a lease has lapsed, and keeps it while renewed', async () => {
      const g = id();
      const kept = id();
      const lapsing = await store.claim(g, 'writer', 100);
      const renewed = await store.claim(kept, 'writer', 300);
      await store.append(g, lapsing, token(1));
      // Renewed past twice its first lifetime; `g`, not renewed, lapses meanwhile.
      for (let i = 0; i < 6; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await store.renew(kept, renewed, 300)).toBe(true);
      }
      await store.append(kept, renewed, token(1));
      expect(await store.renew(g, lapsing, 100)).toBe(false);
      await expect(store.append(g, lapsing, token(2))).rejects.toBeInstanceOf(LeaseLostError);
      expect((await store.history(g)).map((e) => e.index)).toEqual([1]);
      // A token never comes back, even after its lease lapsed.
      expect(await store.claim(g, 'writer', 60_000)).toBeGreaterThan(lapsing);
    });

    it('refuses writes from a token never given out', async () => {
      const g = id();
      await expect(store.append(g, 1, token(1))).rejects.toBeInstanceOf(LeaseLostError);
      expect(await store.renew(g, 1, 60_000)).toBe(false);
      expect(await store.history(g)).toEqual([]);
    });

    it('passes cancellation requests to listening workers', async () => {
      const g = id();
      const heard: string[] = [];
      const stop = await store.onCancel((generationId) => heard.push(generationId));
      expect(await store.isCancelRequested(g)).toBe(false);
      await store.requestCancel(g);
      expect(await store.isCancelRequested(g)).toBe(true);
      await expect.poll(() => heard).toContain(g);
      await stop();
    });
  });
}

contract('in-process', () => createMemoryStreamStore(60_000));
describe.skipIf(!inject('redisAvailable'))('on Redis', () => {
  let shared: Redis;
  beforeAll(() => {
    shared = new Redis(REDIS_URL);
  });
  afterAll(() => shared.disconnect());
  contract('Redis', () => createRedisStreamStore({ redis: shared, ttlSeconds: 60, prefix: `gptql-test-${process.pid}:` }));
});

/** A generation with its first token in the log, and a subscriber from the start. */
async function followedGeneration(store: StreamStore) {
  const g = crypto.randomUUID();
  const fence = await store.claim(g, 'writer', 60_000);
  const append = (event: StreamEvent) => store.append(g, fence, event);
  await append(token(1));
  return { g, append, seen: drain(store.subscribe(g, 0)) };
}

describe.skipIf(!inject('redisAvailable'))('Redis stream store after a worker died mid-append', () => {
  it('fills a gap left by an event that reached the log but was never published', async () => {
    const prefix = `gptql-test-gap-${process.pid}:`;
    const redis = new Redis(REDIS_URL);
    const store = createRedisStreamStore({ redis, ttlSeconds: 60, prefix });
    try {
      const { g, append, seen } = await followedGeneration(store);
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Event 2 is in the log only, as when a worker of a version that appended and published in
      // two steps was killed between RPUSH and PUBLISH (or a published event was missed).
      await redis.rpush(`${prefix}gen:${g}:events`, JSON.stringify(token(2)));
      for (const i of range(3, 5)) await append(token(i));
      await append(completedEvent(6));
      expect(await seen).toEqual(range(1, 6));
    } finally {
      await store.close();
      redis.disconnect();
    }
  });
});

describe.skipIf(!inject('redisAvailable'))('Redis stream store whose subscriber connection dropped', () => {
  it('catches up from the log with what was published while it reconnected', async () => {
    const prefix = `gptql-test-resubscribe-${process.pid}:`;
    const redis = new Redis(REDIS_URL);
    const subscriber = redis.duplicate();
    const subscriberId = await subscriber.client('ID');
    const store = createRedisStreamStore({ redis, pubsub: createRedisPubSub(redis, subscriber), subscriber, ttlSeconds: 60, prefix });
    try {
      const { g, append, seen } = await followedGeneration(store);
      await expect.poll(() => redis.pubsub('NUMSUB', `${prefix}gen:${g}`)).toEqual([`${prefix}gen:${g}`, 1]);
      // The server drops the subscriber (a failover, a restart); ioredis waits 50 ms before it
      // reconnects, and everything, the end included, is published before then, to no one.
      await redis.client('KILL', 'ID', String(subscriberId));
      for (const i of range(2, 5)) await append(token(i));
      await append(completedEvent(6));
      expect(await seen).toEqual(range(1, 6));
    } finally {
      await store.close();
      subscriber.disconnect();
      redis.disconnect();
    }
  });
});
