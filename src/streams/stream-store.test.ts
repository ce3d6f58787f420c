import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { StreamEvent } from './events.ts';
import type { StreamStore } from './stream-store.ts';
import { createMemoryStreamStore } from './stream-store-memory.ts';
import { createRedisStreamStore } from './stream-store-redis.ts';
import { REDIS_URL } from '../../test/support/services.ts';
import { completedEvent } from '../../test/support/stream-events.ts';

const token = (index: number): StreamEvent => ({ kind: 'token', index, delta: `t${index} ` });

async function drain(events: AsyncIterable<StreamEvent>): Promise<number[]> {
  const seen: number[] = [];
  for await (const event of events) seen.push(event.index);
  return seen;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function contract(name: string, make: () => StreamStore) {
  describe(`${name} stream store`, () => {
    // Made when the suite runs, not when it is collected: a skipped suite opens no connection.
    let store: StreamStore;
    beforeAll(() => {
      store = make();
    });
    afterAll(() => store?.close());
    const id = () => crypto.randomUUID();

    it('keeps generation metadata and status', async () => {
      const g = id();
      await store.create({ generationId: g, userId: 'u1', status: 'QUEUED', createdAt: new Date().toISOString() });
      await store.setStatus(g, 'RUNNING');
      expect(await store.get(g)).toMatchObject({ userId: 'u1', status: 'RUNNING' });
      expect(await store.get(id())).toBeUndefined();
    });

    it('replays then streams live, each event once and in order, for every `after`', async () => {
      const g = id();
      for (const i of range(1, 5)) await store.append(g, token(i));
      const subscribers = [0, 2, 5].map((after) => drain(store.subscribe(g, after)));
      // Live events race the replay reads.
      for (const i of range(6, 40)) await store.append(g, token(i));
      await store.append(g, completedEvent(41));
      const [all, fromTwo, fromFive] = await Promise.all(subscribers);
      expect(all).toEqual(range(1, 41));
      expect(fromTwo).toEqual(range(3, 41));
      expect(fromFive).toEqual(range(6, 41));
      // After the end: replay only, and the stream still ends.
      expect(await drain(store.subscribe(g, 38))).toEqual([39, 40, 41]);
      expect((await store.history(g)).map((e) => e.index)).toEqual(range(1, 41));
    });

    it('serves many subscribers joining while events are appended', async () => {
      const g = id();
      const joined: Promise<number[]>[] = [];
      for (const i of range(1, 60)) {
        await store.append(g, token(i));
        if (i % 6 === 0) joined.push(drain(store.subscribe(g, i - 3)));
      }
      await store.append(g, completedEvent(61));
      const results = await Promise.all(joined);
      results.forEach((seen, k) => expect(seen).toEqual(range((k + 1) * 6 - 2, 61)));
    });

    it('stops delivering to a subscriber that leaves', async () => {
      const g = id();
      const iterator = store.subscribe(g, 0)[Symbol.asyncIterator]();
      await store.append(g, token(1));
      expect((await iterator.next()).value).toMatchObject({ index: 1 });
      await iterator.return?.();
      await store.append(g, token(2));
      expect((await iterator.next()).done).toBe(true);
    });

    it('replays a generation longer than 1,024 events, and streams it to a reader that has not read yet', async () => {
      const g = id();
      const waiting = store.subscribe(g, 0)[Symbol.asyncIterator]();
      const first = waiting.next();
      for (const i of range(1, 1500)) await store.append(g, token(i));
      await store.append(g, completedEvent(1501));
      expect(await drain(store.subscribe(g, 0))).toEqual(range(1, 1501));
      const seen = [(await first).value!.index];
      for (let next = await waiting.next(); !next.done; next = await waiting.next()) seen.push(next.value.index);
      expect(seen).toEqual(range(1, 1501));
    });

    it('counts subscriptions while they listen for live events', async () => {
      const g = id();
      const before = store.activeSubscriptions();
      const left = store.subscribe(g, 0)[Symbol.asyncIterator]();
      const ended = drain(store.subscribe(g, 0));
      const pending = left.next();
      await expect.poll(() => store.activeSubscriptions()).toBe(before + 2);
      await store.append(g, token(1));
      await pending;
      await left.return?.();
      await store.append(g, completedEvent(2));
      await ended;
      await expect.poll(() => store.activeSubscriptions()).toBe(before);
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

describe.skipIf(!inject('redisAvailable'))('Redis stream store after a worker died mid-append', () => {
  it('fills a gap left by an event that reached the log but was never published', async () => {
    const prefix = `gptql-test-gap-${process.pid}:`;
    const redis = new Redis(REDIS_URL);
    const store = createRedisStreamStore({ redis, ttlSeconds: 60, prefix });
    try {
      const g = crypto.randomUUID();
      await store.append(g, token(1));
      const seen = drain(store.subscribe(g, 0));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Event 2 is in the log only, as when its worker was killed between RPUSH and PUBLISH.
      await redis.rpush(`${prefix}gen:${g}:events`, JSON.stringify(token(2)));
      for (const i of range(3, 5)) await store.append(g, token(i));
      await store.append(g, completedEvent(6));
      expect(await seen).toEqual(range(1, 6));
    } finally {
      await store.close();
      redis.disconnect();
    }
  });
});
