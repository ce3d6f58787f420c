/** The Redis the benchmarks use, what a run's server listens to there, and the clean-up of its keys. */
import type { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Deletes every key under `prefix` (SCAN, not KEYS, so that a shared Redis is not blocked). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.unlink(...keys);
  }
}

/**
 * Channels under `prefix` that a server is subscribed to, but the workers' cancel channel, which
 * lives as long as the process: what clients opened, and must be gone once they leave.
 */
export async function clientChannels(redis: Redis, prefix: string): Promise<string[]> {
  const channels = (await redis.pubsub('CHANNELS', `${prefix}*`)) as string[];
  return channels.filter((channel) => channel !== `${prefix}gen:cancel`);
}
