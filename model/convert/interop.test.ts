/**
 * A converted folder in @huggingface/transformers (transformers.js, offline): it must load it
 * by its config.json alone (KV shapes from num_key_value_heads/head_dim, Optimum IO names) and
 * decode the reference's greedy tokens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoModelForCausalLM, env, Tensor } from '@huggingface/transformers';
import { hfTinyDir, reference } from '../../test/support/hf-tiny.ts';
import { convertCheckpoint } from './convert.ts';

const root = mkdtempSync(join(tmpdir(), 'gptql-convert-interop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('transformers.js', () => {
  it.each(['llama-gqa', 'qwen2-bias'] as const)('loads converted %s (optimized flavour) and decodes the reference greedy tokens', async (model) => {
    const ref = reference(model);
    convertCheckpoint(hfTinyDir(model), join(root, model), { flavour: 'optimized' });
    env.localModelPath = root;
    env.allowRemoteModels = false;
    const lm = await AutoModelForCausalLM.from_pretrained(model, { dtype: 'fp32' });
    const n = ref.prompt_ids.length;
    const input_ids = new Tensor('int64', BigInt64Array.from(ref.prompt_ids, BigInt), [1, n]);
    const count = ref.greedy_ids.length;
    const generated = (await lm.generate({ input_ids, max_new_tokens: count, min_new_tokens: count, do_sample: false })) as Tensor;
    expect(Array.from(generated.data as BigInt64Array, Number).slice(n)).toEqual(ref.greedy_ids);
    await lm.dispose();
  });
});
