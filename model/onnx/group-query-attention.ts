/**
 * ONNX Runtime's `GroupQueryAttention` as the optimized graphs' attention, with one more output
 * per layer so that the engine can keep the KV cache itself, in place, without copies that
 * grow with the context.
 *
 * Why: onnxruntime-node copies every output it returns into a new JavaScript ArrayBuffer. With
 * the usual present.* outputs (past and new positions together) that is the whole cache, every
 * step; measured on 124m q4, about a third of a decode step at ~100 positions. So besides
 * present.* (kept for Optimum-style callers), the graph returns `new_key_values.{i}.key/value`:
 * only the positions this run added, [batch, kv_heads, seq, head_dim]. A caller that keeps its
 * own buffers ([batch, kv_heads, capacity, head_dim], kv-slots.ts) feeds views of them as past
 * (inputs are not copied), fetches logits and the new positions only, and writes those into
 * its buffers. GroupQueryAttention reads each row's own length from seqlens_k, so the past may
 * be wider than what is cached: the buffers' spare capacity is never read.
 *
 * Rows are right-padded: row b's tokens sit at cache positions 0…len_b−1, and attention_mask
 * [batch, total] has len_b + new ones first, then zeros. The kernel takes seqlens_k (ones − 1)
 * and total_sequence_length (the mask's width), computed here from the mask as onnxruntime-genai's
 * exported models do.
 */
import { ElemType, MS_DOMAIN, type GraphBuilder } from './graph.ts';
import { io } from './gpt.ts';

/** Names of the positions a run added to layer i's cache, [batch, kv_heads, seq, head_dim]. */
export const newCacheNames = {
  key: (i: number) => `new_key_values.${i}.key`,
  value: (i: number) => `new_key_values.${i}.value`,
} as const;

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Keys `window` or more positions before the query are closed (Mistral's sliding window). */
  slidingWindow?: number;
}

export interface PastKv {
  key: string;
  value: string;
}

export interface CacheLengths {
  seqlensK: string;
  totalLength: string;
}

/** The per-row cached lengths and the mask width the kernel takes, computed once per graph. */
export function cacheLengths(g: GraphBuilder, mask: string): CacheLengths {
  const ones = g.op('ReduceSum', [mask, g.int64s([1], 'mask_axis')], { keepdims: 0 }, 'mask_ones');
  const seqlensK = g.op('Cast', [g.op('Sub', [ones, g.int64s([1], 'one_i64', true)])], { to: ElemType.INT32 }, 'seqlens_k');
  const width = g.op('Squeeze', [g.op('Shape', [mask], { start: 1, end: 2 }, 'mask_width')], {}, 'mask_width_scalar');
  return { seqlensK, totalLength: g.op('Cast', [width], { to: ElemType.INT32 }, 'total_sequence_length') };
}

/**
 * Layer `layer`'s attention from q [batch, seq, heads·head_dim] and the new k, v [batch, seq,
 * kv_heads·head_dim] (k already rotated). Writes present.{layer}.* and new_key_values.{layer}.*;
 * returns the context [batch, seq, heads·head_dim].
 */
export function groupQueryAttention(g: GraphBuilder, [q, k, v]: readonly [string, string, string], past: PastKv, lengths: CacheLengths, layer: number, shape: AttentionShape): string {
  // Same count as transformers' sliding_window (checked against the portable mask in
  // model/convert/convert.test.ts).
  const window: Record<string, number> = shape.slidingWindow !== undefined ? { local_window_size: shape.slidingWindow } : {};
  const [ctx] = g.node(
    'GroupQueryAttention',
    [q, k, v, past.key, past.value, lengths.seqlensK, lengths.totalLength],
    ['attn', io.presentKey(layer), io.presentValue(layer)],
    { num_heads: shape.heads, kv_num_heads: shape.kvHeads, ...window },
    MS_DOMAIN,
  );
  const headsShape = g.int64s([0, 0, shape.kvHeads, shape.headDim], 'kv_heads_shape');
  for (const [t, name] of [[k, newCacheNames.key(layer)], [v, newCacheNames.value(layer)]] as const) {
    g.node('Transpose', [g.op('Reshape', [t, headsShape], {}, 'kv_heads')], [name], { perm: [0, 2, 1, 3] });
  }
  return ctx!;
}

/** Declares new_key_values.{i}.key/value as outputs (after declareDecoderOutputs' logits and present.*). */
export function declareNewCacheOutputs(g: GraphBuilder, s: { layers: number; kvHeads: number; headDim: number }): void {
  const shape = ['batch_size', s.kvHeads, 'sequence_length', s.headDim];
  for (let i = 0; i < s.layers; i++) {
    g.output(newCacheNames.key(i), ElemType.FLOAT, shape);
    g.output(newCacheNames.value(i), ElemType.FLOAT, shape);
  }
}
