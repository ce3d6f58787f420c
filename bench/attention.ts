/**
 * `npx tsx bench/attention.ts`: why the optimized graphs do not use ONNX Runtime's
 * GroupQueryAttention. Twelve attention layers of the 124m shape (12 heads of 64), one decode
 * step, the cache fed as in-place views [rows, heads, capacity, 64]: GroupQueryAttention (which
 * copies the past into its present output every step) against model/onnx/cached-attention.ts
 * (which reads it where it is), side by side in one run, with the largest difference of their
 * outputs. Attention only: the projections and the MLP are the same in both.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { attentionContext, cachedAttention } from '../model/onnx/cached-attention.ts';
import { ElemType, GraphBuilder, MS_DOMAIN } from '../model/onnx/graph.ts';

const HEADS = 12;
const HEAD_DIM = 64;
const LAYERS = 12;
const STEPS = 20;

function build(kind: 'GroupQueryAttention' | 'cached'): Uint8Array {
  const g = new GraphBuilder(kind);
  const ids = g.input('input_ids', ElemType.INT64, ['batch', 1]);
  const mask = g.input('attention_mask', ElemType.INT64, ['batch', 'width']);
  const [q, k, v] = ['q', 'k', 'v'].map((name) => g.input(name, ElemType.FLOAT, ['batch', 1, HEADS * HEAD_DIM])) as [string, string, string];
  const past = Array.from({ length: LAYERS }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, ElemType.FLOAT, ['batch', HEADS, 'capacity', HEAD_DIM]),
    value: g.input(`past_key_values.${i}.value`, ElemType.FLOAT, ['batch', HEADS, 'capacity', HEAD_DIM]),
  }));
  const shape = { heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM };
  // GroupQueryAttention's lengths as onnxruntime-genai's exports compute them from the mask. Its
  // present outputs are asked for (and dropped) as a decoder's are: without them it reads no past.
  const seqlensK = g.op('Cast', [g.op('Sub', [g.op('ReduceSum', [mask, g.int64s([1])], { keepdims: 0 }), g.int64s([1], 'one', true)])], { to: ElemType.INT32 });
  const total = g.op('Cast', [g.op('Squeeze', [g.op('Shape', [mask], { start: 1, end: 2 })])], { to: ElemType.INT32 });
  const context = kind === 'cached' ? attentionContext(g, ids, mask, past[0]!.key, shape) : undefined;
  let x = q;
  for (let i = 0; i < LAYERS; i++) {
    const ctx = context
      ? cachedAttention(g, [x, k, v], past[i]!, context, i)
      : g.node('GroupQueryAttention', [x, k, v, past[i]!.key, past[i]!.value, seqlensK, total], ['ctx', 'present_key', 'present_value'], { num_heads: HEADS, kv_num_heads: HEADS }, MS_DOMAIN)[0]!;
    x = g.op('Add', [ctx, q]);
  }
  g.node('Identity', [x], ['out']);
  g.output('out', ElemType.FLOAT, ['batch', 1, HEADS * HEAD_DIM]);
  return g.serialize({ dtype: 'fp32', weights: 'embed' });
}

function random(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() - 0.5);
}

/** Feeds for `rows` rows holding `cached` positions each in buffers of `capacity`; the mask as each graph's caller would give it. */
function feeds(rows: number, cached: readonly number[], capacity: number, kind: 'GroupQueryAttention' | 'cached'): Record<string, ort.Tensor> {
  // GroupQueryAttention: as wide as the longest row and the new token; ours: one column past the capacity and the new token.
  const width = kind === 'cached' ? capacity + 2 : Math.max(...cached) + 1;
  const mask = new BigInt64Array(rows * width);
  cached.forEach((n, row) => mask.fill(1n, row * width, row * width + n + 1));
  const out: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', new BigInt64Array(rows), [rows, 1]),
    attention_mask: new ort.Tensor('int64', mask, [rows, width]),
  };
  for (const name of ['q', 'k', 'v']) out[name] = new ort.Tensor('float32', random(rows * HEADS * HEAD_DIM), [rows, 1, HEADS * HEAD_DIM]);
  for (let i = 0; i < LAYERS; i++) {
    for (const part of ['key', 'value']) out[`past_key_values.${i}.${part}`] = new ort.Tensor('float32', random(rows * HEADS * capacity * HEAD_DIM), [rows, HEADS, capacity, HEAD_DIM]);
  }
  return out;
}

const sessions = {
  GroupQueryAttention: await ort.InferenceSession.create(build('GroupQueryAttention'), { graphOptimizationLevel: 'all' }),
  cached: await ort.InferenceSession.create(build('cached'), { graphOptimizationLevel: 'all' }),
};

const cases: { label: string; cached: number[]; capacity: number }[] = [
  { label: '1 row at 8', cached: [8], capacity: 32 },
  { label: '8 rows at 8', cached: Array(8).fill(8), capacity: 32 },
  { label: '1 row at 700', cached: [700], capacity: 768 },
  { label: '8 rows at 700', cached: Array(8).fill(700), capacity: 768 },
  { label: '1 row at 700, 7 at 20', cached: [700, ...Array(7).fill(20)], capacity: 768 },
];

console.log(`machine: ${os.cpus()[0]?.model} × ${os.availableParallelism()}, node ${process.version}\n`);
console.log('| case | capacity | GroupQueryAttention ms/step | cached-attention ms/step | ratio | max difference |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const c of cases) {
  const times: Record<string, number> = {};
  const outputs: Record<string, Float32Array> = {};
  const shared = feeds(c.cached.length, c.cached, c.capacity, 'cached');
  for (const kind of ['GroupQueryAttention', 'cached'] as const) {
    // The same values, the mask as this graph's caller gives it.
    const input = { ...shared, attention_mask: feeds(c.cached.length, c.cached, c.capacity, kind).attention_mask! };
    const session = sessions[kind];
    await session.run(input, ['out']);
    const start = performance.now();
    let out: ort.InferenceSession.OnnxValueMapType | undefined;
    for (let i = 0; i < STEPS; i++) out = await session.run(input, ['out']);
    times[kind] = (performance.now() - start) / STEPS;
    outputs[kind] = out!.out!.data as Float32Array;
  }
  let diff = 0;
  outputs.cached!.forEach((value, i) => (diff = Math.max(diff, Math.abs(value - outputs.GroupQueryAttention![i]!))));
  const [gqa, ours] = [times.GroupQueryAttention!, times.cached!];
  console.log(`| ${c.label} | ${c.capacity} | ${gqa.toFixed(2)} | ${ours.toFixed(2)} | ${(gqa / ours).toFixed(2)}× | ${diff.toExponential(1)} |`);
}
