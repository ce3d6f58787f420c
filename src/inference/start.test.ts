import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../model/index.ts';
import { loadConfig } from '../config.ts';
import { prepareModelFolder, startEngine } from './start.ts';
import { collect } from '../../test/support/collect.ts';

describe('engine from configuration', () => {
  it('serves the shipped model when nothing is set', () => {
    const config = loadConfig({});
    expect(config.model.folders).toEqual([{ name: 'default', path: DEFAULT_MODEL_DIR }]);
    expect(prepareModelFolder(config, config.model.folders[0]!)).toBe(DEFAULT_MODEL_DIR);
    expect(loadConfig({ MODEL_PATH: '/models/mine' }).model.folders).toEqual([{ name: 'mine', path: '/models/mine' }]);
  });

  it('builds a random-weights preset once for MODEL_SIZE and generates from it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-size-'));
    try {
      const config = loadConfig({ MODEL_SIZE: 'tiny', DATA_DIR: dataDir, MAX_BATCH_SIZE: '2' });
      const [folder] = config.model.folders;
      expect(folder).toEqual({ name: 'random-tiny', path: path.join(dataDir, 'models', 'random-tiny') });
      const engine = await startEngine(config, folder!, new Registry());
      try {
        expect(engine.model).toMatchObject({ name: 'random-tiny', contextLength: 128 });
        const result = await collect(engine.generate({ input: { prompt: 'hi' }, params: { maxTokens: 5 } }));
        expect(result.done.usage.completionTokens).toBeGreaterThan(0);
      } finally {
        await engine.close();
      }
      const built = fs.statSync(path.join(dataDir, 'models', 'random-tiny', 'onnx', 'model.onnx')).mtimeMs;
      expect(prepareModelFolder(config, folder!)).toBe(path.join(dataDir, 'models', 'random-tiny'));
      expect(fs.statSync(path.join(dataDir, 'models', 'random-tiny', 'onnx', 'model.onnx')).mtimeMs).toBe(built);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown size preset at start-up', () => {
    expect(() => loadConfig({ MODEL_SIZE: '7b' })).toThrow(/MODEL_SIZE=/);
  });
});
