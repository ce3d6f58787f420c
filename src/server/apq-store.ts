/**
 * Where automatic persisted queries are kept (PERSISTED_OPERATIONS=allow): in memory for one
 * process, in Redis for every API process. Bounded both ways: at most `maxEntries` documents
 * (the least recently registered go first) of at most APQ_MAX_DOCUMENT_BYTES each, for `ttlSeconds`.
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';

export interface ApqStore {
  get(hash: string): Promise<string | undefined>;
  set(hash: string, document: string): Promise<void>;
}

export const APQ_DEFAULTS = { maxEntries: 5000, ttlSeconds: 7 * 24 * 3600 };

export function createMemoryApqStore({ maxEntries, ttlSeconds } = APQ_DEFAULTS): ApqStore {
  const documents = new LRUCache<string, string>({ max: maxEntries, ttl: ttlSeconds * 1000 });
  return {
    get: async (hash) => documents.get(hash),
    set: async (hash, document) => void documents.set(hash, document),
  };
}

/**
 * Each document under its own key with a TTL; a sorted set of hashes in registration order (a
 * counter, so that registrations in the same millisecond still have one) caps their number. One
 * script, so that the cap holds with several API processes registering at once.
 */
const REGISTER = `
redis.call('SET', KEYS[1] .. ARGV[1], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #popped, 2 do redis.call('DEL', KEYS[1] .. popped[i]) end
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
`;

export function createRedisApqStore(redis: Redis, prefix: string, { maxEntries, ttlSeconds } = APQ_DEFAULTS): ApqStore {
  const documentKey = `${prefix}apq:`;
  const index = `${prefix}apq-index`;
  const sequence = `${prefix}apq-sequence`;
  return {
    get: async (hash) => (await redis.get(documentKey + hash)) ?? undefined,
    async set(hash, document) {
      await redis.eval(REGISTER, 3, documentKey, index, sequence, hash, document, ttlSeconds, maxEntries);
    },
  };
}
