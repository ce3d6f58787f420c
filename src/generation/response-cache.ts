/**
 * Replies to deterministic requests (temperature 0, or a fixed seed), keyed by model, the whole
 * prompt and every parameter: the same request gives the same tokens, so a hit streams the
 * stored ones instead of running the model. Redis in production, an LRU in-process.
 */
import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import type { FinishReason, Usage } from '../inference/protocol.ts';

export interface CachedReply {
  deltas: string[];
  usage: Usage;
  finishReason: FinishReason;
}

export interface ResponseCache {
  get(key: string): Promise<CachedReply | undefined>;
  set(key: string, reply: CachedReply): Promise<void>;
  close(): Promise<void>;
}

/** Whether the same request always gives the same reply (so caching it is correct). */
export function isDeterministic(params: { temperature?: number | null; seed?: number | null }): boolean {
  return params.temperature === 0 || (params.seed !== null && params.seed !== undefined);
}

export function cacheKey(model: string, input: unknown, params: unknown): string {
  return crypto.createHash('sha256').update(JSON.stringify({ model, input, params })).digest('hex');
}

export function createMemoryResponseCache(ttlSeconds: number, maxEntries = 1000): ResponseCache {
  const cache = new LRUCache<string, CachedReply>({ max: maxEntries, ttl: ttlSeconds * 1000 });
  return {
    get: async (key) => cache.get(key),
    set: async (key, reply) => void cache.set(key, reply),
    close: async () => cache.clear(),
  };
}

/** On a client the caller owns and closes. */
export function createRedisResponseCache(redis: Redis, ttlSeconds: number, prefix = 'gptql:'): ResponseCache {
  const key = (k: string) => `${prefix}reply:${k}`;
  return {
    async get(k) {
      const raw = await redis.get(key(k));
      return raw ? (JSON.parse(raw) as CachedReply) : undefined;
    },
    async set(k, reply) {
      await redis.set(key(k), JSON.stringify(reply), 'EX', ttlSeconds);
    },
    async close() {},
  };
}
