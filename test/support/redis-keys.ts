/** A test file's Redis client, and the clean-up of the keys a test or a benchmark made under one prefix. */
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { REDIS_URL } from './services.ts';

/** Deletes every key under `prefix` (SCAN, not KEYS, so that a shared Redis is not blocked). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.unlink(...keys);
  }
}

/**
 * One client for the whole test file, closed after its tests. It connects on first use, so a
 * file whose Redis suites are skipped (no Redis in this run) opens nothing.
 */
export function redisForFile(): Redis {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  afterAll(async () => {
    if (redis.status === 'wait') redis.disconnect();
    else await redis.quit();
  });
  return redis;
}
