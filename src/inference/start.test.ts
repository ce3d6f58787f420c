import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../model/index.ts';
import { loadConfig } from '../config.ts';
import { modelPathFor, startEngine } from './start.ts';
import { collect } from '../../test/support/collect.ts';

describe('engine from configuration', () => {
  it('serves the shipped model when nothing is set', () => {
    expect(modelPathFor(loadConfig({}))).toBe(DEFAULT_MODEL_DIR);
    expect(modelPathFor(loadConfig({ MODEL_PATH: '/models/mine' }))).toBe('/models/mine');
  });

  it('builds a random-weights preset once for MODEL_SIZE and generates from it', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-size-'));
    try {
      const config = loadConfig({ MODEL_SIZE: 'tiny', DATA_DIR: dataDir, MAX_BATCH_SIZE: '2' });
      const engine = await startEngine(config, new Registry());
      try {
        expect(engine.model).toMatchObject({ name: 'random-tiny', contextLength: 128 });
        const result = await collect(engine.generate({ input: { prompt: 'hi' }, params: { maxTokens: 5 } }));
        expect(result.done.usage.completionTokens).toBeGreaterThan(0);
      } finally {
        await engine.close();
      }
      const built = fs.statSync(path.join(dataDir, 'models', 'random-tiny', 'onnx', 'model.onnx')).mtimeMs;
      expect(modelPathFor(config)).toBe(path.join(dataDir, 'models', 'random-tiny'));
      expect(fs.statSync(path.join(dataDir, 'models', 'random-tiny', 'onnx', 'model.onnx')).mtimeMs).toBe(built);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown size preset at start-up', () => {
    expect(() => loadConfig({ MODEL_SIZE: '7b' })).toThrow(/MODEL_SIZE=/);
  });
});
