/**
 * Which models the workers serve, for the `models` query on API processes that run none.
 * Each worker announces its model under a key that expires unless renewed, so a stopped
 * worker's model disappears by itself. Embedded: the models of this process.
 */
import type { Redis } from 'ioredis';

export interface ModelInfo {
  name: string;
  contextLength: number;
}

export interface ModelDirectory {
  /** Announces a model this process serves, until the returned function is called. */
  announce(worker: string, model: ModelInfo): Promise<() => Promise<void>>;
  list(): Promise<ModelInfo[]>;
  close(): Promise<void>;
}

const uniqueByName = (models: ModelInfo[]) => [...new Map(models.map((m) => [m.name, m])).values()].sort((a, b) => a.name.localeCompare(b.name));

export function createMemoryModelDirectory(): ModelDirectory {
  const models = new Map<string, ModelInfo>();
  return {
    async announce(worker, model) {
      models.set(worker, model);
      return async () => void models.delete(worker);
    },
    list: async () => uniqueByName([...models.values()]),
    close: async () => models.clear(),
  };
}

const ANNOUNCE_TTL_SECONDS = 30;

/** On a client the caller owns and closes. */
export function createRedisModelDirectory(redis: Redis, prefix = 'gptql:'): ModelDirectory {
  const key = (worker: string) => `${prefix}models:${worker}`;
  return {
    async announce(worker, model) {
      const write = () => redis.set(key(worker), JSON.stringify(model), 'EX', ANNOUNCE_TTL_SECONDS);
      await write();
      const timer = setInterval(() => void write().catch(() => {}), (ANNOUNCE_TTL_SECONDS * 1000) / 3);
      timer.unref();
      return async () => {
        clearInterval(timer);
        await redis.del(key(worker));
      };
    },
    async list() {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}models:*`, 'COUNT', 100);
        keys.push(...batch);
        cursor = next;
      } while (cursor !== '0');
      if (keys.length === 0) return [];
      const values = await redis.mget(keys);
      return uniqueByName(values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as ModelInfo));
    },
    async close() {},
  };
}
