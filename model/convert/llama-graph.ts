/**
 * The Llama-family decoder (llama, mistral, qwen2, phi3) as an ONNX graph, with the IO contract
 * of our GPT-2 graph (model/onnx/gpt.ts): input_ids, attention_mask, position_ids and
 * past_key_values.{i}.key/value in, logits and present.{i}.key/value out, the KV cache shaped
 * [batch, kv_heads, seq, head_dim]. position_ids drive the rotary tables; attention_mask closes
 * left padding, on top of the causal mask (and the sliding window where the model has one).
 *
 * `portable`: opset-17 operators only; batches left-padded, closed by an additive mask.
 * `optimized`: ONNX Runtime's fused operators, batches right-padded:
 * - SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization: RMSNorm, and RMSNorm with
 *   the residual add (and the projection's bias) in one pass.
 * - RotaryEmbedding: rotates q and k in their [batch, seq, heads·head_dim] layout, reading the
 *   same cos/sin tables by position_ids.
 * - the attention of model/onnx/cached-attention.ts: reads each KV head once for its group of
 *   query heads, where the caller keeps the cache, without copying it; applies the sliding
 *   window; returns the new positions as new_key_values.* for the caller to write in place.
 */
import { GraphBuilder, MS_DOMAIN } from '../onnx/graph.ts';
import { attentionContext, cachedAttention, declareNewCacheOutputs, presentOutputs } from '../onnx/cached-attention.ts';
import { io, type Flavour } from '../onnx/gpt.ts';
import { attentionBias } from '../onnx/attention-bias.ts';
import { declareDecoderOutputs, decoderInputs, lazyWeights } from '../onnx/decoder-io.ts';
import type { LlamaFamilyConfig } from './config.ts';
import { llamaTensorShapes, projectionSizes, type LlamaWeights } from './layout.ts';
import { inverseFrequencies, rotaryTables } from './rope.ts';

/** ONNX weight names: the checkpoint's own where one tensor maps to one, ours for fused ones. */
function onnxName(name: string): string {
  if (name === 'embed') return 'model.embed_tokens.weight';
  if (name === 'norm') return 'model.norm.weight';
  if (name === 'lm_head') return 'lm_head.weight';
  return `model.${name}`;
}

export function buildLlamaGraph(weights: LlamaWeights, flavour: Flavour): GraphBuilder {
  const c: LlamaFamilyConfig = weights.config;
  const { q: qDim, kv: kvDim } = projectionSizes(c);
  const hd = c.headDim;
  const groups = c.heads / c.kvHeads;
  const g = new GraphBuilder(`gptql-${c.modelType}-${flavour}`);
  const shapes = llamaTensorShapes(c);
  const w = lazyWeights(g, shapes, onnxName, (name) => weights.tensor(name));
  const has = (name: string) => shapes.has(name);

  const decoder = { layers: c.layers, kvHeads: c.kvHeads, headDim: hd, vocab: c.vocab };
  const { ids, mask, pos, past } = decoderInputs(g, decoder);

  // Rotary tables, float32 whatever the weights' dtype, one row per position.
  const tables = rotaryTables(inverseFrequencies(c), c.maxPositions);
  const half = c.rotaryDim / 2;
  const cosTable = g.floats(tables.cos, [c.maxPositions, half], 'rope_cos');
  const sinTable = g.floats(tables.sin, [c.maxPositions, half], 'rope_sin');

  const linear = (x: string, name: string, withBias = true): string => {
    const y = g.op('MatMul', [x, w(name)], {}, name);
    return withBias && has(`${name}_bias`) ? g.op('Add', [y, w(`${name}_bias`)], {}, `${name}.out`) : y;
  };
  const eps = { f: c.rmsNormEps };
  const swiglu = (h: string, p: string): string => {
    const [gate, up] = g.node('Split', [linear(h, `${p}gate_up`), g.int64s([c.intermediate, c.intermediate], 'gate_up_split')], ['gate', 'up'], { axis: -1 });
    return g.op('Mul', [g.op('Mul', [gate!, g.op('Sigmoid', [gate!])], {}, 'silu'), up!], {}, 'swiglu');
  };
  const splitQkv = (qkv: string) => g.node('Split', [qkv, g.int64s([qDim, kvDim, kvDim], 'qkv_split')], ['q', 'k', 'v'], { axis: 2 }) as [string, string, string];
  const toHeads = (x: string, heads: number): string => g.op('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, heads, hd], 'heads_shape')])], { perm: [0, 2, 1, 3] });

  /**
   * Attention from q [B, heads, S, hd] and the new k, v [B, kv_heads, S, hd]; present.* keep
   * kv_heads. Query heads are viewed as [B, kv_heads, groups, S, hd] so that each KV head
   * serves its group (transformers' repeat_kv order: query head h reads KV head h / groups)
   * through MatMul broadcasting, without copying the cache per query head.
   */
  // Made on first use, so that a graph whose attention is all fused carries none of them.
  const once = <T,>(make: () => T): (() => T) => {
    let value: T | undefined;
    return () => (value ??= make());
  };
  const scale = once(() => g.float(1 / Math.sqrt(hd), 'attn_scale'));
  const groupedBias = once(() => g.op('Unsqueeze', [attentionBias(g, ids, mask, c.slidingWindow), g.int64s([1])], {}, 'grouped_bias'));
  const merged = once(() => g.int64s([0, 0, qDim], 'merged_shape'));
  const attendMatMul = (q: string, k: string, v: string, i: number): string => {
    const keys = g.node('Concat', [past[i]!.key, k], [io.presentKey(i)], { axis: 2 })[0]!;
    const values = g.node('Concat', [past[i]!.value, v], [io.presentValue(i)], { axis: 2 })[0]!;
    const qg = g.op('Reshape', [g.op('Mul', [q, scale()]), g.int64s([0, c.kvHeads, groups, -1, hd], 'grouped_q_shape')], {}, 'grouped_q');
    const k5 = g.op('Unsqueeze', [keys, g.int64s([2])]);
    const v5 = g.op('Unsqueeze', [values, g.int64s([2])]);
    const scores = g.op('MatMul', [qg, g.op('Transpose', [k5], { perm: [0, 1, 2, 4, 3] })], {}, 'scores');
    const probs = g.op('Softmax', [g.op('Add', [scores, groupedBias()])], { axis: -1 }, 'probs');
    const ctx = g.op('Reshape', [g.op('MatMul', [probs, v5]), g.int64s([0, c.heads, -1, hd], 'ungrouped_shape')]);
    return g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), merged()], {}, 'attn');
  };

  let x = g.op('Gather', [w('embed'), ids], {}, 'embedded');
  if (flavour === 'portable') {
    // RMSNorm as transformers computes it: x · 1/√(mean(x²) + ε) · weight.
    const rmsNorm = (x: string, name: string): string => {
      const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 }, 'mean_square');
      const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.float(c.rmsNormEps)])])], {}, 'inv_rms');
      return g.op('Mul', [g.op('Mul', [x, inv]), w(name)], {}, name);
    };
    // cos/sin rows for each token, [B, 1, S, half], broadcast over heads.
    const cos = g.op('Unsqueeze', [g.op('Gather', [cosTable, pos]), g.int64s([1])], {}, 'cos');
    const sin = g.op('Unsqueeze', [g.op('Gather', [sinTable, pos]), g.int64s([1])], {}, 'sin');
    const partial = c.rotaryDim < hd;
    const ropeSplit = g.int64s(partial ? [half, half, hd - c.rotaryDim] : [half, half], 'rope_split');
    // Rotate-half RoPE: (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin); dimensions past
    // rotaryDim (partial_rotary_factor) pass through.
    const rope = (x: string): string => {
      const parts = g.node('Split', [x, ropeSplit], partial ? ['x1', 'x2', 'pass'] : ['x1', 'x2'], { axis: -1 });
      const [x1, x2] = parts as [string, string];
      const r1 = g.op('Sub', [g.op('Mul', [x1, cos]), g.op('Mul', [x2, sin])]);
      const r2 = g.op('Add', [g.op('Mul', [x2, cos]), g.op('Mul', [x1, sin])]);
      return g.op('Concat', partial ? [r1, r2, parts[2]!] : [r1, r2], { axis: -1 }, 'rotated');
    };
    for (let i = 0; i < c.layers; i++) {
      const p = `layers.${i}.`;
      const [q, k, v] = splitQkv(linear(rmsNorm(x, `${p}input_norm`), `${p}qkv`));
      const ctx = attendMatMul(rope(toHeads(q, c.heads)), rope(toHeads(k, c.kvHeads)), toHeads(v, c.kvHeads), i);
      x = g.op('Add', [x, linear(ctx, `${p}o`)], {}, 'residual');
      x = g.op('Add', [x, linear(swiglu(rmsNorm(x, `${p}post_norm`), p), `${p}down`)], {}, 'residual');
    }
    x = rmsNorm(x, 'norm');
  } else {
    const rotary = (x: string, heads: number): string =>
      g.op('RotaryEmbedding', [x, pos, cosTable, sinTable], { num_heads: heads, ...(c.rotaryDim < hd ? { rotary_embedding_dim: c.rotaryDim } : {}) }, 'rotated', MS_DOMAIN);
    // The residual add, the projection's bias and the next RMSNorm in one kernel; its fourth
    // output is the un-normalized sum, the next residual stream.
    const skipNorm = (y: string, residual: string, norm: string, bias: string | undefined): [string, string] => {
      const [normed, , , sum] = g.node(
        'SkipSimplifiedLayerNormalization',
        [y, residual, w(norm), ...(bias && has(bias) ? [w(bias)] : [])],
        [`${norm}.skip`, '', '', 'residual'],
        { epsilon: eps },
        MS_DOMAIN,
      );
      return [normed!, sum!];
    };
    const attention = attentionContext(g, ids, mask, past[0]!.key, { heads: c.heads, kvHeads: c.kvHeads, headDim: hd, slidingWindow: c.slidingWindow });
    let h = g.op('SimplifiedLayerNormalization', [x, w('layers.0.input_norm')], { axis: -1, epsilon: eps, stash_type: 1 }, 'layers.0.input_norm');
    for (let i = 0; i < c.layers; i++) {
      const p = `layers.${i}.`;
      const [q, k, v] = splitQkv(linear(h, `${p}qkv`));
      const ctx = cachedAttention(g, [rotary(q, c.heads), rotary(k, c.kvHeads), v], past[i]!, attention, i);
      [h, x] = skipNorm(linear(ctx, `${p}o`, false), x, `${p}post_norm`, `${p}o_bias`);
      const next = i + 1 < c.layers ? `layers.${i + 1}.input_norm` : 'norm';
      [h, x] = skipNorm(linear(swiglu(h, p), `${p}down`, false), x, next, `${p}down_bias`);
    }
    x = h;
    presentOutputs(g, attention, past, c.layers);
  }

  // Tied: the embedding initializer, transposed (ORT folds the Transpose at load; the quantizer
  // follows it back to the weight). Untied: lm_head stored [hidden, vocab].
  const head = c.tieWordEmbeddings ? g.op('Transpose', [w('embed')], { perm: [1, 0] }, 'lm_head') : w('lm_head');
  g.node('MatMul', [x, head], [io.logits]);
  declareDecoderOutputs(g, decoder);
  if (flavour === 'optimized') declareNewCacheOutputs(g, decoder);
  return g;
}
