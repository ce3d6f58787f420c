/**
 * `npx tsx bench/convert-flavours.ts [--shape 100m|10m] [--mha] [--tokens N] [--rounds R] [--threads T]`: decode speed of the
 * converter's Llama graph in its flavours, on a Llama-shaped model of about 100M parameters with
 * random weights (12 layers, hidden 768, 12 query heads over 4 KV heads, SwiGLU 2048, vocab
 * 32000, tied head). Sessions are run straight through onnxruntime-node, batch 1 and a
 * padded batch of 4 (left-padded for portable, right-padded for optimized, as each graph wants), the variants interleaved round by round so that a busy machine slows
 * all of them alike. One-off measurement behind the default flavour; not a test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { seededRandom } from '../model/weights.ts';
import { normalizeConfig, type LlamaFamilyConfig } from '../model/convert/config.ts';
import { llamaParameterCount, llamaTensorShapes, type LlamaWeights } from '../model/convert/layout.ts';
import { buildLlamaGraph } from '../model/convert/llama-graph.ts';
import type { Flavour } from '../model/onnx/gpt.ts';

const { values } = parseArgs({
  options: { tokens: { type: 'string', default: '48' }, rounds: { type: 'string', default: '3' }, threads: { type: 'string', default: '1' }, shape: { type: 'string', default: '100m' }, mha: { type: 'boolean', default: false } },
});
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);
const THREADS = Number(values.threads);

/** 100m: the measurement behind the default; 10m: where per-operator overhead weighs more. */
const SHAPES = {
  '100m': { hidden_size: 768, num_attention_heads: 12, num_key_value_heads: 4, num_hidden_layers: 12, intermediate_size: 2048, vocab_size: 32000 },
  '10m': { hidden_size: 256, num_attention_heads: 8, num_key_value_heads: 2, num_hidden_layers: 6, intermediate_size: 704, vocab_size: 8192 },
};
/** --mha: as many KV heads as query heads (no grouping). */
const kvHeads = (shape: (typeof SHAPES)[keyof typeof SHAPES]) => (values.mha ? shape.num_attention_heads : shape.num_key_value_heads);
if (!(values.shape! in SHAPES)) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}`);
const config = normalizeConfig({
  model_type: 'llama',
  ...SHAPES[values.shape as keyof typeof SHAPES],
  num_key_value_heads: kvHeads(SHAPES[values.shape as keyof typeof SHAPES]),
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
}) as LlamaFamilyConfig;

function randomLlama(c: LlamaFamilyConfig): LlamaWeights {
  const shapes = llamaTensorShapes(c);
  const memo = new Map<string, Float32Array>();
  let seed = 1;
  return {
    config: c,
    tensor(name) {
      let t = memo.get(name);
      if (!t) {
        const shape = shapes.get(name)!;
        const rand = seededRandom(seed++);
        const isNorm = shape.length === 1 && name.includes('norm');
        t = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (isNorm ? 1 : 0) + (rand() - 0.5) * 0.06);
        memo.set(name, t);
      }
      return t;
    },
  };
}

interface Variant {
  label: string;
  flavour: Flavour;
}
const VARIANTS: Variant[] = [
  { label: 'portable', flavour: 'portable' },
  { label: 'optimized', flavour: 'optimized' },
];

function emptyCache(c: LlamaFamilyConfig, batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < c.layers; i++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [batch, c.kvHeads, 0, c.headDim]);
  }
  return feeds;
}

const int64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);

/**
 * Rows of prompt lengths `lengths`, padded to the longest, prefilled in one run, then
 * `TOKENS` decode steps; returns decode tokens per second (all rows counted).
 */
async function decodeRate(session: ort.InferenceSession, lengths: number[], flavour: Flavour): Promise<number> {
  const left = flavour === 'portable';
  const batch = lengths.length;
  const width = Math.max(...lengths);
  const ids: number[] = [];
  const mask: number[] = [];
  const pos: number[] = [];
  lengths.forEach((n, r) => {
    for (let j = 0; j < width; j++) {
      const real = left ? j >= width - n : j < n;
      ids.push(real ? (r * 131 + j * 17) % config.vocab : 0);
      mask.push(real ? 1 : 0);
      pos.push(real ? (left ? j - (width - n) : j) : 0);
    }
  });
  let out = await session.run({ ...emptyCache(config, batch), input_ids: int64(ids, [batch, width]), attention_mask: int64(mask, [batch, width]), position_ids: int64(pos, [batch, width]) });
  let total = width;
  const lens = [...lengths];
  const rowMask = (r: number, t: number) => Array.from({ length: t }, (_, j) => (left ? j >= width - lengths[r]! : j < lens[r]! + 1) ? 1 : 0);
  const start = performance.now();
  for (let step = 0; step < TOKENS; step++) {
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < config.layers; i++) {
      feeds[`past_key_values.${i}.key`] = out[`present.${i}.key`]!;
      feeds[`past_key_values.${i}.value`] = out[`present.${i}.value`]!;
    }
    total++;
    feeds.input_ids = int64(lens.map((_, r) => (r * 7 + step * 13) % config.vocab), [batch, 1]);
    feeds.attention_mask = int64(lens.flatMap((_, r) => rowMask(r, total)), [batch, total]);
    feeds.position_ids = int64(lens.map((n) => n), [batch, 1]);
    out = await session.run(feeds);
    for (let r = 0; r < batch; r++) lens[r]!++;
  }
  return (TOKENS * batch) / ((performance.now() - start) / 1000);
}

const dir = mkdtempSync(join(tmpdir(), 'gptql-flavours-'));
try {
  console.log(`Llama-shaped model: ${llamaParameterCount(config).toLocaleString('en-US')} parameters, ${config.heads} heads over ${config.kvHeads} KV heads; ${TOKENS} decode steps; ${THREADS} intra-op thread(s); ${ROUNDS} rounds`);
  const weights = randomLlama(config);
  const sessions: ort.InferenceSession[] = [];
  for (const v of VARIANTS) {
    const path = join(dir, `${v.label.replace(/\W+/g, '_')}.onnx`);
    writeFileSync(path, buildLlamaGraph(weights, v.flavour).serialize({ dtype: 'fp32', weights: 'embed' }));
    sessions.push(await ort.InferenceSession.create(path, { intraOpNumThreads: THREADS, interOpNumThreads: 1 }));
  }
  const results = VARIANTS.map(() => ({ one: [] as number[], four: [] as number[] }));
  for (let round = 0; round <= ROUNDS; round++) {
    for (let v = 0; v < VARIANTS.length; v++) {
      const one = await decodeRate(sessions[v]!, [32], VARIANTS[v]!.flavour);
      const four = await decodeRate(sessions[v]!, [32, 20, 9, 27], VARIANTS[v]!.flavour);
      // Round 0 warms caches and allocators up; not counted.
      if (round > 0) {
        results[v]!.one.push(one);
        results[v]!.four.push(four);
      }
    }
  }
  // Medians over rounds.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  // Paired per round against the first variant (portable): what interleaving buys on a busy machine.
  const ratio = (i: number, key: 'one' | 'four') => median(results[i]![key].map((x, r) => x / results[0]![key][r]!)).toFixed(2);
  const rows = VARIANTS.map((v, i) => ({
    variant: v.label,
    'batch 1 tok/s': median(results[i]!.one).toFixed(1),
    'vs portable': ratio(i, 'one'),
    'batch 4 (left-padded) tok/s': median(results[i]!.four).toFixed(1),
    'vs portable ': ratio(i, 'four'),
  }));
  console.table(rows);
  for (const s of sessions) await s.release();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
