/** Model folders with seeded random weights for tests: a `tiny` one built once per file in a temp dir, and a slow one. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cached, preset, randomWeights, writeModelFolder, type WeightSource } from '../../model/index.ts';

export interface TinyModel {
  dir: string;
  weights: WeightSource;
  remove(): void;
}

/** `context` overrides the preset's 128 positions, for tests of long generations. */
export function buildTinyModel(seed = 11, context?: number): TinyModel {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-tiny-'));
  // std 0.2 (not GPT-2's 0.02) gives well separated logits, so greedy choices are not near-ties.
  const weights = cached(randomWeights({ ...preset('tiny'), ...(context ? { context } : {}) }, { seed, std: 0.2 }));
  writeModelFolder(dir, weights, { flavour: 'optimized', dtype: 'fp32' });
  return { dir, weights, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Random weights of the `small` preset at `dir`: about 120 tokens/s here, so that a reply of a
 * few hundred tokens takes seconds, time for a test to act while it runs.
 */
export function writeSlowModel(dir: string): string {
  writeModelFolder(dir, randomWeights(preset('small'), { seed: 0 }), { flavour: 'optimized', dtype: 'fp32' });
  return dir;
}
