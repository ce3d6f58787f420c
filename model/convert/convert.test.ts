/**
 * `model convert` against transformers: every hf-tiny fixture (test/fixtures/hf-tiny) converted
 * in both flavours must give the reference logits at every prompt position, and, served through
 * the engine, the reference greedy and chat tokens. The other architectures are made from the
 * llama fixture (phi3: fused projections; mistral: same layout) and must give its reference.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { collect } from '../../test/support/collect.ts';
import { HF_TINY_MODELS, hfTinyDir, maxAbsDiff, reference } from '../../test/support/hf-tiny.ts';
import { SafetensorsFile, writeSafetensors } from '../safetensors.ts';
import { quantizeFolder } from '../quantize/index.ts';
import { normalizeConfig, type LlamaFamilyConfig } from './config.ts';
import { convertCheckpoint } from './convert.ts';
import { defaultInverseFrequencies, inverseFrequencies } from './rope.ts';

const root = mkdtempSync(join(tmpdir(), 'gptql-convert-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let made = 0;
const tempDir = (hint: string) => join(root, `${hint}-${++made}`);

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'chat_template.jinja'];

/** A checkpoint folder: the fixture's tokenizer files, a config and the given tensors. */
function checkpointFolder(from: string, config: Record<string, unknown>, tensors: [string, number[], Float32Array][]): string {
  const dir = tempDir('ckpt');
  mkdirSync(dir, { recursive: true });
  for (const f of TOKENIZER_FILES) copyFileSync(join(from, f), join(dir, f));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

function fixtureTensors(model: string): [string, number[], Float32Array][] {
  const f = new SafetensorsFile(join(hfTinyDir(model as never), 'model.safetensors'));
  const out = [...f.entries].map(([name, e]) => [name, e.shape, f.read(name)] as [string, number[], Float32Array]);
  f.close();
  return out;
}

const fixtureConfig = (model: string) => JSON.parse(readFileSync(join(hfTinyDir(model as never), 'config.json'), 'utf8')) as Record<string, unknown>;

/** Logits at every position of one prompt, read straight from the graph (batch 1, empty cache). */
async function promptLogits(dir: string, ids: number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'));
  const n = ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [1, n]),
  };
  for (const meta of session.inputMetadata) {
    if (!meta.name.startsWith('past_key_values.') || !meta.isTensor) continue;
    const [, heads, , dim] = meta.shape as [unknown, number, unknown, number];
    feeds[meta.name] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, dim]);
  }
  const logits = (await session.run(feeds)).logits!;
  await session.release();
  const vocab = logits.dims[2]!;
  const data = logits.data as Float32Array;
  return Array.from({ length: n }, (_, p) => data.slice(p * vocab, (p + 1) * vocab));
}

const greedy = (tokens: number) => ({ temperature: 0, maxTokens: tokens, minTokens: tokens });

/** Greedy prompt and chat tokens through the engine, as production serves the folder. */
async function served(dir: string, model: (typeof HF_TINY_MODELS)[number]) {
  const ref = reference(model);
  const engine = await InferenceEngine.start({ modelPath: dir, maxBatchSize: 4, intraOpThreads: 1 });
  try {
    const [prompt, chat] = await Promise.all([
      collect(engine.generate({ input: { prompt: ref.prompt }, params: greedy(ref.greedy_ids.length), diagnostics: true })),
      collect(engine.generate({ input: { messages: ref.chat_messages }, params: greedy(ref.chat_greedy_ids.length), diagnostics: true })),
    ]);
    // Decoded together: rows of different lengths, left-padded in one batch.
    expect(Math.max(...prompt.done.diagnostics!.batchSizes)).toBe(2);
    return { prompt: prompt.done.diagnostics!, chat: chat.done.diagnostics! };
  } finally {
    await engine.close();
  }
}

describe.each(HF_TINY_MODELS)('%s', (model) => {
  const ref = reference(model);
  describe.each(['portable', 'optimized'] as const)('%s', (flavour) => {
    const out = tempDir(`${model}-${flavour}`);

    it('converts to logits within 1e-4 of transformers at every prompt position', async () => {
      convertCheckpoint(hfTinyDir(model), out, { flavour });
      expect(maxAbsDiff(await promptLogits(out, ref.prompt_ids), ref.logits)).toBeLessThan(1e-4);
    });

    it('is served by the engine with the reference greedy and chat tokens', async () => {
      const { prompt, chat } = await served(out, model);
      expect(prompt.promptIds).toEqual(ref.prompt_ids);
      expect(prompt.tokenIds).toEqual(ref.greedy_ids);
      expect(chat.promptIds).toEqual(ref.chat_prompt_ids);
      expect(chat.tokenIds).toEqual(ref.chat_greedy_ids);
    });
  });
});

describe('checkpoint layouts', () => {
  const llama = hfTinyDir('llama-gqa');
  const ref = reference('llama-gqa');

  it('converts a sharded checkpoint (index + 3 shards) to the same model.onnx byte for byte', () => {
    const tensors = fixtureTensors('llama-gqa');
    const dir = tempDir('sharded');
    mkdirSync(dir);
    for (const f of TOKENIZER_FILES) copyFileSync(join(llama, f), join(dir, f));
    copyFileSync(join(llama, 'config.json'), join(dir, 'config.json'));
    const weightMap: Record<string, string> = {};
    const shards = [tensors.slice(0, 7), tensors.slice(7, 14), tensors.slice(14)];
    shards.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00003.safetensors`;
      writeSafetensors(join(dir, file), part);
      for (const [name] of part) weightMap[name] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const single = convertCheckpoint(llama, tempDir('single'));
    const sharded = convertCheckpoint(dir, tempDir('from-shards'));
    expect(readFileSync(sharded.modelPath).equals(readFileSync(single.modelPath))).toBe(true);
  });

  it('phi3: fused qkv_proj and gate_up_proj give the llama reference', async () => {
    const byName = new Map(fixtureTensors('llama-gqa').map(([n, s, d]) => [n, { s, d }]));
    const tensors: [string, number[], Float32Array][] = [];
    const cat = (...names: string[]) => {
      const parts = names.map((n) => byName.get(n)!);
      const out = new Float32Array(parts.reduce((a, p) => a + p.d.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p.d, at);
        at += p.d.length;
      }
      return { shape: [parts.reduce((a, p) => a + p.s[0]!, 0), parts[0]!.s[1]!], data: out };
    };
    for (const [name, { s, d }] of byName) {
      const m = /^(model\.layers\.\d+\.)(self_attn\.[qkv]_proj|mlp\.(gate|up)_proj)\.weight$/.exec(name);
      if (!m) tensors.push([name, s, d]);
    }
    for (let i = 0; i < 2; i++) {
      const p = `model.layers.${i}.`;
      const qkv = cat(`${p}self_attn.q_proj.weight`, `${p}self_attn.k_proj.weight`, `${p}self_attn.v_proj.weight`);
      const gateUp = cat(`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`);
      tensors.push([`${p}self_attn.qkv_proj.weight`, qkv.shape, qkv.data], [`${p}mlp.gate_up_proj.weight`, gateUp.shape, gateUp.data]);
    }
    const config = { ...fixtureConfig('llama-gqa'), model_type: 'phi3', architectures: ['Phi3ForCausalLM'], sliding_window: null };
    delete (config as Record<string, unknown>).attention_bias;
    delete (config as Record<string, unknown>).mlp_bias;
    for (const flavour of ['portable', 'optimized'] as const) {
      const out = tempDir('phi3');
      convertCheckpoint(checkpointFolder(llama, config, tensors), out, { flavour });
      expect(maxAbsDiff(await promptLogits(out, ref.prompt_ids), ref.logits)).toBeLessThan(1e-4);
    }
  });

  it('as many KV heads as query heads: each KV head duplicated gives the reference', async () => {
    // Query head h reads KV head h / 2 in the fixture; with 4 KV heads, KV head h must be that one.
    const tensors = fixtureTensors('llama-gqa').map(([name, shape, data]): [string, number[], Float32Array] => {
      if (!/self_attn\.[kv]_proj\.weight$/.test(name)) return [name, shape, data];
      const [rows, cols] = shape as [number, number];
      const headRows = rows / 2;
      const out = new Float32Array(2 * data.length);
      for (let h = 0; h < 4; h++) out.set(data.subarray((h >> 1) * headRows * cols, ((h >> 1) + 1) * headRows * cols), h * headRows * cols);
      return [name, [2 * rows, cols], out];
    });
    const config = { ...fixtureConfig('llama-gqa'), num_key_value_heads: 4 };
    const ckpt = checkpointFolder(llama, config, tensors);
    for (const flavour of ['portable', 'optimized'] as const) {
      const out = tempDir('mha');
      convertCheckpoint(ckpt, out, { flavour });
      expect(readFileSync(join(out, 'onnx', 'model.onnx')).includes('FusedMatMul')).toBe(flavour === 'optimized');
      expect(maxAbsDiff(await promptLogits(out, ref.prompt_ids), ref.logits)).toBeLessThan(1e-4);
      const { prompt, chat } = await served(out, 'llama-gqa');
      expect(prompt.tokenIds).toEqual(ref.greedy_ids);
      expect(chat.tokenIds).toEqual(ref.chat_greedy_ids);
    }
  });

  it('mistral: the llama checkpoint under model_type mistral gives the llama reference', async () => {
    const config = { ...fixtureConfig('llama-gqa'), model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 4096 };
    const out = tempDir('mistral');
    convertCheckpoint(checkpointFolder(llama, config, fixtureTensors('llama-gqa')), out);
    expect(maxAbsDiff(await promptLogits(out, ref.prompt_ids), ref.logits)).toBeLessThan(1e-4);
  });

  it('mistral: a sliding window shorter than the prompt changes only the positions past it, alike in both flavours', async () => {
    const window = 4;
    const config = { ...fixtureConfig('llama-gqa'), model_type: 'mistral', sliding_window: window };
    const ckpt = checkpointFolder(llama, config, fixtureTensors('llama-gqa'));
    const [portable, optimized] = await Promise.all(
      (['portable', 'optimized'] as const).map(async (flavour) => {
        const out = tempDir('window');
        convertCheckpoint(ckpt, out, { flavour });
        return promptLogits(out, ref.prompt_ids);
      }),
    );
    expect(maxAbsDiff(portable!, optimized!.map((r) => Array.from(r)))).toBeLessThan(1e-5);
    // Up to `window` tokens the window covers everything: transformers' logits; later it bites.
    expect(maxAbsDiff(portable!.slice(0, window), ref.logits.slice(0, window))).toBeLessThan(1e-4);
    expect(maxAbsDiff(portable!.slice(window), ref.logits.slice(window))).toBeGreaterThan(1e-3);
  });

  it('partial_rotary_factor: the portable rotation and ONNX Runtime RotaryEmbedding agree', async () => {
    const config = { ...fixtureConfig('llama-gqa'), partial_rotary_factor: 0.5 };
    const ckpt = checkpointFolder(llama, config, fixtureTensors('llama-gqa'));
    const [portable, optimized] = await Promise.all(
      (['portable', 'optimized'] as const).map(async (flavour) => {
        const out = tempDir('partial');
        convertCheckpoint(ckpt, out, { flavour });
        return promptLogits(out, ref.prompt_ids);
      }),
    );
    expect(maxAbsDiff(portable!, optimized!.map((r) => Array.from(r)))).toBeLessThan(1e-5);
    // Half the dimensions no longer rotate: not the full-rotary reference.
    expect(maxAbsDiff(portable!.slice(1), ref.logits.slice(1))).toBeGreaterThan(1e-3);
  });

  it('--dtype fp16 stores float16 weights; external data and --dtype int8 write what they say', async () => {
    const fp32 = convertCheckpoint(llama, tempDir('fp32'));
    const fp16 = convertCheckpoint(llama, tempDir('fp16'), { dtype: 'fp16' });
    expect(readFileSync(fp16.modelPath).length).toBeLessThan(0.6 * readFileSync(fp32.modelPath).length);
    expect(maxAbsDiff(await promptLogits(fp16.dir, ref.prompt_ids), ref.logits)).toBeLessThan(1e-2);

    const external = convertCheckpoint(llama, tempDir('external'), { externalData: true, dtype: 'int8' });
    expect(readFileSync(`${external.modelPath}_data`).length).toBeGreaterThan(500_000);
    expect(JSON.parse(readFileSync(join(external.dir, 'config.json'), 'utf8'))['transformers.js_config']).toEqual({ use_external_data_format: true });
    expect(maxAbsDiff(await promptLogits(external.dir, ref.prompt_ids), ref.logits)).toBeLessThan(1e-4);
    expect(external.quantized?.output).toBe(join(external.dir, 'onnx', 'model_int8.onnx'));
  });

  it('a tied LM head is quantized with the rest (the quantizer follows Transpose back to the embedding)', () => {
    const out = tempDir('qwen-q4');
    convertCheckpoint(hfTinyDir('qwen2-bias'), out, { flavour: 'portable' });
    const result = quantizeFolder(out, { dtype: 'q4' });
    // Per layer qkv, o, gate_up and down, plus the LM head.
    expect(result.quantized).toBe(2 * 4 + 1);
  });
});

describe('rotary frequencies', () => {
  it('llama3 scaling follows the documented piecewise formula', () => {
    // Llama 3.1's published values; head_dim 128.
    const c = normalizeConfig({
      ...fixtureConfig('llama-gqa'),
      hidden_size: 4096,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 128,
      max_position_embeddings: 131072,
      rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    }) as LlamaFamilyConfig;
    const got = inverseFrequencies(c);
    const base = defaultInverseFrequencies(500000, 128);
    expect(got).toHaveLength(64);
    const lowWavelen = 8192 / 1;
    const highWavelen = 8192 / 4;
    let kept = 0;
    let divided = 0;
    let blended = 0;
    base.forEach((f, i) => {
      const wavelen = (2 * Math.PI) / f;
      let expected: number;
      if (wavelen < highWavelen) {
        expected = f;
        kept++;
      } else if (wavelen > lowWavelen) {
        expected = f / 8;
        divided++;
      } else {
        const s = (8192 / wavelen - 1) / (4 - 1);
        expected = (1 - s) * (f / 8) + s * f;
        blended++;
      }
      // Computed in double from the float32 base frequencies, stored as float32 (as torch keeps them).
      expect(got[i]).toBe(Math.fround(expected));
    });
    // All three regimes occur for this config.
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(blended).toBeGreaterThan(0);
    // Spot values: the highest frequency is untouched, the lowest divided by the factor.
    expect(got[0]).toBe(1);
    expect(got[63]).toBe(Math.fround(base[63]! / 8));
  });
});

describe('refusals', () => {
  const llama = hfTinyDir('llama-gqa');

  it('names a missing tensor', () => {
    const tensors = fixtureTensors('llama-gqa').filter(([n]) => n !== 'model.layers.1.mlp.up_proj.weight');
    expect(() => convertCheckpoint(checkpointFolder(llama, fixtureConfig('llama-gqa'), tensors), tempDir('x'))).toThrow(/lacks 1 tensor.*model\.layers\.1\.mlp\.up_proj\.weight/);
  });

  it('names an unexpected tensor and a shape mismatch', () => {
    const tensors = fixtureTensors('llama-gqa');
    const extra: [string, number[], Float32Array] = ['model.layers.0.self_attn.q_proj.bias', [64], new Float32Array(64)];
    expect(() => convertCheckpoint(checkpointFolder(llama, fixtureConfig('llama-gqa'), [...tensors, extra]), tempDir('x'))).toThrow(/does not: model\.layers\.0\.self_attn\.q_proj\.bias/);
    const config = { ...fixtureConfig('llama-gqa'), intermediate_size: 128 };
    expect(() => convertCheckpoint(checkpointFolder(llama, config, tensors), tempDir('x'))).toThrow(/mlp\.gate_proj\.weight is \[176, 64\]; config\.json implies \[128, 64\]/);
  });

  it('names an unknown model_type and an unsupported rope type', () => {
    expect(() => normalizeConfig({ ...fixtureConfig('llama-gqa'), model_type: 'gemma2' })).toThrow(/model_type "gemma2" is not supported/);
    expect(() => normalizeConfig({ ...fixtureConfig('llama-gqa'), rope_parameters: { rope_type: 'yarn', rope_theta: 10000, factor: 4 } })).toThrow(/rope scaling type "yarn" is not supported/);
    expect(() => normalizeConfig({ ...fixtureConfig('llama-gqa'), rope_parameters: undefined, rope_scaling: { type: 'longrope' } })).toThrow(/"longrope" is not supported/);
    expect(() => normalizeConfig({ ...fixtureConfig('gpt2'), activation_function: 'relu' })).toThrow(/activation_function "relu"/);
  });

  it('refuses a non-empty --out without force', () => {
    const out = tempDir('busy');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    expect(() => convertCheckpoint(llama, out)).toThrow(/not empty; --force/);
    expect(() => convertCheckpoint(llama, out, { force: true })).not.toThrow();
  });
});
