import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoModelForCausalLM, AutoTokenizer, env, Tensor } from '@huggingface/transformers';
import { preset, tensorShapes } from './presets.ts';
import { randomWeights } from './weights.ts';
import { writeSafetensors } from './safetensors.ts';
import { safetensorsWeights } from './checkpoint.ts';
import { writeModelFolder } from './folder.ts';
import { argmax, GptSession } from './session.ts';

const root = mkdtempSync(join(tmpdir(), 'gptql-interop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('@huggingface/transformers interoperability', () => {
  it('loads a portable folder built from a GPT-2 safetensors checkpoint and decodes greedily as we do', async () => {
    const config = preset('tiny');
    const source = randomWeights(config, { seed: 11, std: 0.1 });
    const ckpt = join(root, 'model.safetensors');
    writeSafetensors(ckpt, [...tensorShapes(config)].map(([n, s]) => [`transformer.${n}`, s, source.tensor(n)]));
    const weights = safetensorsWeights(ckpt, config.heads);
    writeModelFolder(join(root, 'tiny'), weights, { flavour: 'portable', dtype: 'fp32' });
    weights.close();

    env.localModelPath = root;
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained('tiny');
    const model = await AutoModelForCausalLM.from_pretrained('tiny', { dtype: 'fp32' });
    const prompt = 'In the beginning God created';
    const { input_ids } = tokenizer(prompt) as { input_ids: Tensor };
    const generated = (await model.generate({ input_ids, max_new_tokens: 24, do_sample: false })) as Tensor;
    const theirs = Array.from(generated.data as BigInt64Array, Number).slice(input_ids.dims[1]);

    const ours = await GptSession.fromFolder(join(root, 'tiny'));
    const promptIds = Array.from(input_ids.data as BigInt64Array, Number);
    const mine = await ours.generate(promptIds, 24, argmax);
    expect(theirs).toHaveLength(24);
    expect(new Set(mine).size).toBeGreaterThan(1);
    expect(theirs).toEqual(mine);
    await ours.release();
    await model.dispose();
  });

  it('loads the shipped default model (optimized flavour, contrib ops) and agrees on real text', async () => {
    env.localModelPath = fileURLToPath(new URL('.', import.meta.url));
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained('default');
    const model = await AutoModelForCausalLM.from_pretrained('default', { dtype: 'fp32' });
    const { input_ids } = tokenizer('And God said') as { input_ids: Tensor };
    const generated = (await model.generate({ input_ids, max_new_tokens: 40, do_sample: false })) as Tensor;
    const theirs = Array.from(generated.data as BigInt64Array, Number).slice(input_ids.dims[1]);
    const ours = await GptSession.fromFolder(fileURLToPath(new URL('./default', import.meta.url)));
    const mine = await ours.generate(Array.from(input_ids.data as BigInt64Array, Number), 40, argmax);
    expect(theirs).toEqual(mine);
    expect(tokenizer.decode(mine)).toMatch(/\b(the|and|of)\b/);
    await ours.release();
    await model.dispose();
  });
});
