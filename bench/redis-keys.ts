/** The Redis the benchmarks use, what a run's server listens to there, and the clean-up of its keys. */
import type { Redis } from 'ioredis';

export { deleteKeys } from '../test/support/redis-keys.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Channels under `prefix` that a server is subscribed to, but the workers' cancel channel, which
 * lives as long as the process: what clients opened, and must be gone once they leave.
 */
export async function clientChannels(redis: Redis, prefix: string): Promise<string[]> {
  const channels = (await redis.pubsub('CHANNELS', `${prefix}*`)) as string[];
  return channels.filter((channel) => channel !== `${prefix}gen:cancel`);
}
