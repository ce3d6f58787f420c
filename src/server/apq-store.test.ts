import crypto from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { deleteKeys, redisForFile } from '../../test/support/redis-keys.ts';
import { createMemoryApqStore, createRedisApqStore, type ApqStore } from './apq-store.ts';

const prefix = `gptql-test-apq-store-${crypto.randomUUID().slice(0, 8)}:`;
const redis = redisForFile();
afterAll(async () => {
  if (redis.status === 'ready') await deleteKeys(redis, prefix);
});

const stores: [string, () => ApqStore, boolean][] = [
  ['memory', () => createMemoryApqStore({ maxEntries: 3, ttlSeconds: 60 }), true],
  ['Redis', () => createRedisApqStore(redis, prefix, { maxEntries: 3, ttlSeconds: 60 }), inject('redisAvailable')],
];

describe.each(stores)('%s APQ store', (_name, create, available) => {
  it.skipIf(!available)('keeps the last maxEntries documents registered, and forgets the older ones', async () => {
    const store = create();
    for (let i = 1; i <= 5; i++) await store.set(`h${i}`, `query Q${i} { __typename }`);
    expect(await store.get('h5')).toBe('query Q5 { __typename }');
    expect(await Promise.all(['h1', 'h2', 'h3', 'h4', 'h5'].map((h) => store.get(h)))).toEqual([undefined, undefined, 'query Q3 { __typename }', 'query Q4 { __typename }', 'query Q5 { __typename }']);
  });
});

it.skipIf(!inject('redisAvailable'))('the Redis store holds no more than its cap when several processes register at once', async () => {
  const [a, b] = [createRedisApqStore(redis, `${prefix}shared:`, { maxEntries: 10, ttlSeconds: 60 }), createRedisApqStore(redis.duplicate(), `${prefix}shared:`, { maxEntries: 10, ttlSeconds: 60 })];
  await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).set(`k${i}`, `doc ${i}`)));
  const kept = await redis.keys(`${prefix}shared:apq:*`);
  expect(kept).toHaveLength(10);
  expect(await redis.zcard(`${prefix}shared:apq-index`)).toBe(10);
});
