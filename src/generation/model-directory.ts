/**
 * Which models the workers serve, for the `models` query and for picking a job's model on API
 * processes that run none. Each worker announces its models, in its MODEL_PATH order, under a
 * key that expires unless renewed, so a stopped worker's models disappear by themselves.
 * Embedded: the models of this process.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { MODEL_DTYPES } from '../inference/model-variants.ts';

const modelInfo = z.object({
  name: z.string(),
  architecture: z.string(),
  /** `upstream`: forwarded to an OpenAI-compatible server (UPSTREAM_MODELS). */
  dtype: z.enum([...MODEL_DTYPES, 'upstream']),
  parameters: z.number().nullable(),
  contextLength: z.number(),
  chatTemplate: z.boolean(),
});

/** What a worker tells about one model it serves. */
export type ModelInfo = z.infer<typeof modelInfo>;

/** One model as the deployment serves it: by which workers (their queue consumer names). */
export interface ServedModel extends ModelInfo {
  workers: string[];
}

export interface ModelDirectory {
  /** Announces the models this worker serves, its default (first) one first, until the returned function is called. */
  announce(worker: string, models: readonly ModelInfo[]): Promise<() => Promise<void>>;
  /**
   * Every model some worker serves, the default model first (see `servedModels`). Models of the
   * same name from several workers are one model (MODEL_PATH names them the same way everywhere).
   */
  list(): Promise<ServedModel[]>;
  close(): Promise<void>;
}

/** A worker's announcement, as stored. */
const announcement = z.object({ models: z.array(modelInfo) });
type Announcement = z.infer<typeof announcement>;

/**
 * The directory's view of the deployment: each model with the workers that serve it, ordered by
 * the best position it has in any worker's MODEL_PATH list, then by name. The first is the
 * default model: with one kind of worker that is its first model, as the worker itself takes
 * it; where workers differ (a GPU pool for one model, a CPU pool for two others), each pool's
 * first model has position 0 and the name decides, so every API process picks the same one.
 */
export function servedModels(announcements: ReadonlyMap<string, Announcement>): ServedModel[] {
  const byName = new Map<string, ServedModel & { position: number }>();
  for (const [worker, { models }] of announcements) {
    for (const [position, model] of models.entries()) {
      const known = byName.get(model.name);
      if (known) {
        known.workers.push(worker);
        known.position = Math.min(known.position, position);
      } else {
        byName.set(model.name, { ...model, workers: [worker], position });
      }
    }
  }
  return [...byName.values()]
    .sort((a, b) => a.position - b.position || a.name.localeCompare(b.name))
    .map(({ position: _position, ...model }) => ({ ...model, workers: model.workers.sort() }));
}

export function createMemoryModelDirectory(): ModelDirectory {
  const announcements = new Map<string, Announcement>();
  return {
    async announce(worker, models) {
      announcements.set(worker, { models: [...models] });
      return async () => void announcements.delete(worker);
    },
    list: async () => servedModels(announcements),
    close: async () => announcements.clear(),
  };
}

const ANNOUNCE_TTL_SECONDS = 30;

/**
 * On a client the caller owns and closes. Each worker's announcement is a key of its own that
 * expires; a set lists the workers, so that `list()` (run for every generation request) reads
 * two keys' worth instead of scanning the keyspace. Workers whose key has expired are dropped
 * from the set as they are met. The keys are not the earlier release's `models:*`: its API
 * processes read one model per key and would misread these.
 */
export function createRedisModelDirectory(redis: Redis, prefix = 'gptql:'): ModelDirectory {
  const setKey = `${prefix}model-workers`;
  const key = (worker: string) => `${prefix}model-workers:${worker}`;
  return {
    async announce(worker, models) {
      const value = JSON.stringify({ models: [...models] } satisfies Announcement);
      const write = () => redis.multi().set(key(worker), value, 'EX', ANNOUNCE_TTL_SECONDS).sadd(setKey, worker).exec();
      await write();
      const timer = setInterval(() => void write().catch(() => {}), (ANNOUNCE_TTL_SECONDS * 1000) / 3);
      timer.unref();
      return async () => {
        clearInterval(timer);
        await redis.multi().del(key(worker)).srem(setKey, worker).exec();
      };
    },
    async list() {
      const workers = await redis.smembers(setKey);
      if (workers.length === 0) return [];
      const values = await redis.mget(workers.map(key));
      const announcements = new Map<string, Announcement>();
      const gone: string[] = [];
      for (const [index, worker] of workers.entries()) {
        const value = values[index];
        if (value === null || value === undefined) {
          gone.push(worker);
          continue;
        }
        // A worker of another release may announce in another shape: it is left out, not misread.
        const parsed = announcement.safeParse(safeJson(value));
        if (parsed.success) announcements.set(worker, parsed.data);
      }
      if (gone.length > 0) await redis.srem(setKey, ...gone);
      return servedModels(announcements);
    },
    async close() {},
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
