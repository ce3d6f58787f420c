import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hfTinyDir, reference } from '../test/support/hf-tiny.ts';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'model/cli.ts', ...args], { encoding: 'utf8' });

describe('the model CLI on folders exported by transformers', () => {
  it('info describes the folder and the variant it would serve', async () => {
    const { stdout } = await cli('info', '--model', hfTinyDir('llama-gqa'), '--dtype', 'q4');
    expect(stdout).toMatch(/architecture\s+LlamaForCausalLM/);
    expect(stdout).toMatch(/variants\s+fp32, fp16, int8, q4/);
    expect(stdout).toMatch(/serving\s+q4: onnx\/model_q4\.onnx/);
    expect(stdout).toMatch(/layers × KV heads × head size\s+2 × 2 × 16 \(float32 cache\)/);
    expect(stdout).toMatch(/chat template\s+yes/);
  });

  it('sample generates through the serving engine: greedy, the reference text', async () => {
    const ref = reference('gpt2');
    const { stdout } = await cli('sample', '--model', hfTinyDir('gpt2'), '--prompt', ref.prompt, '--temperature', '0', '--tokens', String(ref.greedy_ids.length));
    expect(stdout.trimEnd()).toBe(ref.prompt + ref.greedy_text);
  });

  it('sample --chat uses the chat template and says which variant is missing', async () => {
    const { stdout } = await cli('sample', '--model', hfTinyDir('qwen2-bias'), '--chat', 'What may I copy?', '--tokens', '4');
    expect(stdout.length).toBeGreaterThan(0);
    await expect(cli('sample', '--model', hfTinyDir('qwen2-bias'), '--dtype', 'q4f16')).rejects.toMatchObject({ stderr: expect.stringMatching(/no q4f16 variant.*this folder has: fp32, fp16, int8, q4/) });
  });

  it('quantize writes the int8 variant the folder then serves, and says what it refuses', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-cli-quantize-'));
    try {
      fs.cpSync(hfTinyDir('gpt2'), dir, { recursive: true });
      fs.rmSync(path.join(dir, 'onnx', 'model_int8.onnx'));
      const { stdout } = await cli('quantize', dir, '--dtype', 'int8');
      expect(stdout).toMatch(/wrote .*onnx\/model_int8\.onnx: 9 weight matmuls 8-bit, block 128; serve it with MODEL_PATH=.* MODEL_DTYPE=int8/);
      const info = await cli('info', '--model', dir, '--dtype', 'int8');
      expect(info.stdout).toMatch(/serving\s+int8: onnx\/model_int8\.onnx/);
      await expect(cli('quantize', dir, '--dtype', 'q4', '--block-size', '48')).rejects.toMatchObject({ stderr: expect.stringMatching(/--block-size must be one of 32, 64, 128/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('build --dtype q4 writes the float32 graph and its q4 variant; a rebuild leaves no stale variant', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-cli-build-'));
    try {
      const { stdout } = await cli('build', '--size', 'tiny', '--dtype', 'q4', '--block-size', '64', '--out', dir);
      expect(stdout).toMatch(/wrote .*onnx\/model_q4\.onnx: \d+ weight matmuls 4-bit, block 64/);
      expect((await cli('info', '--model', dir, '--dtype', 'q4')).stdout).toMatch(/variants\s+fp32, q4\n/);
      const sample = await cli('sample', '--model', dir, '--dtype', 'q4', '--prompt', 'In the beginning', '--tokens', '3', '--temperature', '0');
      expect(sample.stdout.startsWith('In the beginning')).toBe(true);
      await cli('build', '--size', 'tiny', '--seed', '1', '--out', dir);
      expect(fs.readdirSync(path.join(dir, 'onnx'))).toEqual(['model.onnx']);
      await expect(cli('build', '--size', 'tiny', '--dtype', 'int8', '--block-size', '64', '--out', dir)).rejects.toMatchObject({ stderr: expect.stringMatching(/--block-size applies to --dtype q4 only/) });
      await expect(cli('build', '--size', 'tiny', '--dtype', 'q8', '--out', dir)).rejects.toMatchObject({ stderr: expect.stringMatching(/--dtype must be one of fp32, fp16, q4, int8/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
