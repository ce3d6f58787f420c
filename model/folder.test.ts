import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { preset } from './presets.ts';
import { cached, randomWeights } from './weights.ts';
import { writeModelFolder } from './folder.ts';
import { GptSession, readFolderConfig } from './session.ts';

const root = mkdtempSync(join(tmpdir(), 'gptql-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const config = preset('tiny');
const weights = cached(randomWeights(config, { seed: 5, std: 0.1 }));
const ids = [3, 1, 4, 1, 5, 9, 2, 6];

describe('model folder', () => {
  it('writes the Hugging Face layout and reads back the same architecture', () => {
    const dir = join(root, 'embedded');
    writeModelFolder(dir, weights, { flavour: 'portable', dtype: 'fp32' });
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ model_type: 'gpt2', n_layer: 2, n_head: 2, n_embd: 64, n_positions: 128, vocab_size: 4096 });
    expect(readFolderConfig(dir)).toEqual(config);
    expect(existsSync(join(dir, 'onnx/model.onnx_data'))).toBe(false);
  });

  it('refuses a tokenizer with ids beyond the embedding table', () => {
    const narrow = { config: { ...config, vocab: 1000 }, tensor: () => new Float32Array(0) };
    expect(() => writeModelFolder(join(root, 'narrow'), narrow, { flavour: 'portable', dtype: 'fp32' })).toThrow(/ids up to 4095/);
  });

  it('puts weights in an external data file when asked, with the same logits', async () => {
    const external = join(root, 'external');
    writeModelFolder(external, weights, { flavour: 'optimized', dtype: 'fp32', externalData: true });
    writeModelFolder(join(root, 'inline'), weights, { flavour: 'optimized', dtype: 'fp32' });
    expect(statSync(join(external, 'onnx/model.onnx')).size).toBeLessThan(100_000);
    expect(statSync(join(external, 'onnx/model.onnx_data')).size).toBeGreaterThan(370_432 * 4);
    const a = await GptSession.fromFolder(external);
    const b = await GptSession.fromFolder(join(root, 'inline'));
    expect((await a.step(ids)).logits).toEqual((await b.step(ids)).logits);
  });

  it('the CLI prints the presets and builds a folder', () => {
    const cli = ['tsx', 'model/cli.ts'];
    const info = execFileSync('npx', [...cli, 'info'], { encoding: 'utf8' });
    expect(info).toContain('124,439,808');
    const out = join(root, 'cli');
    execFileSync('npx', [...cli, 'build', '--size', 'tiny', '--dtype', 'fp16', '--out', out], { encoding: 'utf8', stdio: 'pipe' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { gptql: Record<string, string> };
    expect(cfg.gptql).toMatchObject({ flavour: 'optimized', weights: 'fp16', preset: 'tiny' });
    // fp16 halves the weights: 370,432 parameters take under 800 kB.
    expect(statSync(join(out, 'onnx/model.onnx')).size).toBeLessThan(800_000);
  });
});
