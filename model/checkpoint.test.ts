import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preset, tensorShapes } from './presets.ts';
import { randomWeights } from './weights.ts';
import { writeSafetensors } from './safetensors.ts';
import { safetensorsWeights } from './checkpoint.ts';
import { fromHalf, toHalf } from './fp16.ts';

const dir = mkdtempSync(join(tmpdir(), 'gptql-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = preset('tiny');
const source = randomWeights(config, { seed: 3 });
const shapes = tensorShapes(config);

function gpt2File(path: string, dtype: 'F32' | 'F16', prefix: string): void {
  const tensors: [string, number[], Float32Array][] = [...shapes].map(([n, s]) => [prefix + n, s, source.tensor(n)]);
  // GPT-2 checkpoints also carry the causal-mask buffer; it is not a parameter and must be skipped.
  tensors.push([`${prefix}h.0.attn.bias`, [1, 1, 4, 4], new Float32Array(16)]);
  writeSafetensors(path, tensors, dtype);
}

describe('safetensors checkpoint import', () => {
  it.each([
    ['F32', 'transformer.'],
    ['F16', ''],
  ] as const)('reads a %s checkpoint with key prefix "%s"', (dtype, prefix) => {
    const path = join(dir, `${dtype}.safetensors`);
    gpt2File(path, dtype, prefix);
    const w = safetensorsWeights(path, config.heads);
    expect(w.config).toEqual(config);
    for (const name of shapes.keys()) {
      const want = dtype === 'F16' ? fromHalf(toHalf(source.tensor(name))) : source.tensor(name);
      expect(w.tensor(name)).toEqual(want);
    }
    w.close();
  });

  it('refuses a checkpoint whose tensors do not fit the architecture', () => {
    const path = join(dir, 'bad.safetensors');
    const tensors: [string, number[], Float32Array][] = [...shapes].map(([n, s]) => [n, s, source.tensor(n)]);
    tensors[2] = ['h.0.ln_1.weight', [3], new Float32Array(3)];
    writeSafetensors(path, tensors);
    expect(() => safetensorsWeights(path, config.heads)).toThrow(/h\.0\.ln_1\.weight .* is \[3\]/);
  });
});
