/** Clean-up of the Redis keys a test or a benchmark made, all under one prefix. */
import type { Redis } from 'ioredis';

/** Deletes every key under `prefix` (SCAN, not KEYS, so that a shared Redis is not blocked). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.unlink(...keys);
  }
}
