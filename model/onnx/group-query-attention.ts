/**
 * ONNX Runtime's `GroupQueryAttention` as the optimized graphs' attention, because it is the
 * one attention kernel whose KV cache can be updated in place: when a step's `present.*`
 * outputs are bound to the very buffers fed as `past_key_values.*` (shaped [batch, kv_heads,
 * capacity, head_dim]), it writes each row's new keys and values at that row's length and
 * copies nothing (ORT's past_present_share_buffer mode). Fed a past of exactly the cached
 * length instead, it returns a present one position longer, like every other decoder graph.
 *
 * Its contract differs from an additive mask in one way: rows are right-padded. Row b's tokens
 * sit at cache positions 0…len_b−1, and attention_mask [batch, total] has len_b + new ones
 * first, then zeros. The kernel reads each row's length from the mask (seqlens_k = ones − 1,
 * total_sequence_length = the mask's width), as onnxruntime-genai's exported models do, so a
 * batch of rows of different lengths costs each row only its own length.
 */
import { ElemType, MS_DOMAIN, type GraphBuilder } from './graph.ts';
import { io } from './gpt.ts';

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  /** Keys `window` or more positions before the query are closed (Mistral's sliding window). */
  slidingWindow?: number;
}

export interface PastKv {
  key: string;
  value: string;
}

/** The per-row cached lengths and the mask width the kernel takes, computed once per graph. */
export function cacheLengths(g: GraphBuilder, mask: string): { seqlensK: string; totalLength: string } {
  const ones = g.op('ReduceSum', [mask, g.int64s([1], 'mask_axis')], { keepdims: 0 }, 'mask_ones');
  const seqlensK = g.op('Cast', [g.op('Sub', [ones, g.int64s([1], 'one_i64', true)])], { to: ElemType.INT32 }, 'seqlens_k');
  const width = g.op('Squeeze', [g.op('Shape', [mask], { start: 1, end: 2 }, 'mask_width')], {}, 'mask_width_scalar');
  return { seqlensK, totalLength: g.op('Cast', [width], { to: ElemType.INT32 }, 'total_sequence_length') };
}

/**
 * Layer `layer`'s attention: `qkv` is one packed [batch, seq, (heads + 2·kv_heads)·head_dim]
 * tensor, or [q, k, v] apart. Writes present.{layer}.key/value; returns the context [batch, seq, heads·head_dim].
 */
export function groupQueryAttention(
  g: GraphBuilder,
  qkv: string | readonly [string, string, string],
  past: PastKv,
  lengths: { seqlensK: string; totalLength: string },
  layer: number,
  shape: AttentionShape,
): string {
  const [q, k, v] = typeof qkv === 'string' ? [qkv, '', ''] : qkv;
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
  return ctx!;
}
