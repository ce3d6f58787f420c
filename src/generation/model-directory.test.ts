import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { deleteKeys as deleteRedisKeys, redisForFile } from '../../test/support/redis-keys.ts';
import { createMemoryModelDirectory, createRedisModelDirectory, type ModelDirectory, type ModelInfo } from './model-directory.ts';

const model = (name: string, extra: Partial<ModelInfo> = {}): ModelInfo => ({
  name,
  architecture: 'LlamaForCausalLM',
  dtype: 'fp32',
  parameters: 4_500_000_000,
  contextLength: 2048,
  chatTemplate: true,
  ...extra,
});

/** The same behaviour from both directories. */
function directoryContract(name: string, create: () => Promise<{ directory: ModelDirectory; cleanup(): Promise<void> }>) {
  describe(`model directory: ${name}`, () => {
    it('lists each model once with the workers serving it, the default first: lowest position in a worker’s list, then name', async () => {
      const { directory, cleanup } = await create();
      const withdraws: (() => Promise<void>)[] = [];
      try {
        // Two pools: GPU workers serve "zephyr" only, CPU workers "alpha" then "tiny".
        const withdrawGpu = await directory.announce('gpu-1', [model('zephyr')]);
        for (const worker of ['cpu-1', 'cpu-2']) withdraws.push(await directory.announce(worker, [model('alpha', { parameters: null, chatTemplate: false }), model('tiny')]));
        const listed = await directory.list();
        expect(listed.map((m) => [m.name, m.workers])).toEqual([
          ['alpha', ['cpu-1', 'cpu-2']],
          ['zephyr', ['gpu-1']],
          ['tiny', ['cpu-1', 'cpu-2']],
        ]);
        expect(listed[0]).toEqual({ ...model('alpha', { parameters: null, chatTemplate: false }), workers: ['cpu-1', 'cpu-2'] });

        await withdrawGpu();
        expect((await directory.list()).map((m) => m.name)).toEqual(['alpha', 'tiny']);
      } finally {
        for (const withdraw of withdraws) await withdraw();
        await cleanup();
      }
    });
  });
}

directoryContract('in-process', async () => {
  const directory = createMemoryModelDirectory();
  return { directory, cleanup: () => directory.close() };
});

const redisAvailable = inject('redisAvailable');
const redis = redisForFile();
const deleteKeys = (prefix: string) => deleteRedisKeys(redis, prefix);

describe.skipIf(!redisAvailable)('Redis', () => {
  directoryContract('Redis', async () => {
    const prefix = `test:models:${randomUUID()}:`;
    const directory = createRedisModelDirectory(redis, prefix);
    return { directory, cleanup: () => deleteKeys(prefix) };
  });

  it('forgets a worker whose announcement expired, and leaves out one it cannot read', async () => {
    const prefix = `test:models:${randomUUID()}:`;
    const directory = createRedisModelDirectory(redis, prefix);
    try {
      const withdraws = [await directory.announce('alive', [model('a')]), await directory.announce('dead', [model('b')])];
      // What a stopped worker leaves once its key expires, and what a worker of another release might write.
      await redis.del(`${prefix}model-workers:dead`);
      await redis.multi().set(`${prefix}model-workers:other`, JSON.stringify({ name: 'c', contextLength: 5 })).sadd(`${prefix}model-workers`, 'other').exec();
      expect((await directory.list()).map((m) => [m.name, m.workers])).toEqual([['a', ['alive']]]);
      expect((await redis.smembers(`${prefix}model-workers`)).sort()).toEqual(['alive', 'other']);
      for (const withdraw of withdraws) await withdraw();
    } finally {
      await deleteKeys(prefix);
    }
  });
});
