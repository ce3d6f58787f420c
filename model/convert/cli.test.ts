/** `npm run model -- convert` as a user runs it: files written, the variant, and one-line errors. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { hfTinyDir } from '../../test/support/hf-tiny.ts';

const run = promisify(execFile);
const cli = (...args: string[]) => run('npx', ['tsx', 'model/cli.ts', 'convert', ...args], { encoding: 'utf8' });
const root = mkdtempSync(join(tmpdir(), 'gptql-convert-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('model convert (CLI)', () => {
  it('writes the folder and its q4 variant, then refuses to overwrite it without --force', async () => {
    const out = join(root, 'qwen');
    const { stdout } = await cli(hfTinyDir('qwen2-bias'), '--out', out, '--dtype', 'q4');
    expect(stdout).toMatch(/wrote .*qwen: qwen2, 119,360 parameters, onnx\/model\.onnx and model_q4\.onnx \(optimized\); serve it with MODEL_PATH=.* MODEL_DTYPE=q4/);
    expect(readdirSync(join(out, 'onnx')).sort()).toEqual(['model.onnx', 'model_q4.onnx']);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja']) expect(existsSync(join(out, f))).toBe(true);
    await expect(cli(hfTinyDir('qwen2-bias'), '--out', out)).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/is not empty; --force writes into it/) });
  });

  it('rejects a bad --dtype and a missing --out with the usage', async () => {
    await expect(cli(hfTinyDir('gpt2'), '--out', join(root, 'x'), '--dtype', 'q8')).rejects.toMatchObject({ stderr: expect.stringMatching(/--dtype must be one of fp32, fp16, int8, q4/) });
    await expect(cli(hfTinyDir('gpt2'))).rejects.toMatchObject({ stderr: expect.stringMatching(/convert takes one checkpoint folder and --out\nusage:/) });
  });
});
