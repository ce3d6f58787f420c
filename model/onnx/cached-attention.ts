/**
 * The optimized graphs' attention: a decode step reads the KV cache where the caller keeps it,
 * without copying it, so that it costs the cache read once.
 *
 * Why not ONNX Runtime's `GroupQueryAttention`: its CPU kernel copies the past into its present
 * output every step unless both are one buffer, and onnxruntime-node cannot bind them so (an
 * output bound to an input's buffer is still copied back out). `npx tsx bench/attention.ts`
 * compares the two (model/README.md, "Graph flavours"): 8 rows at 700 cached positions took
 * 171 ms per step of 12 layers with GroupQueryAttention and 34 ms with this.
 *
 * The layout: a caller keeps the cache as [batch, kv_heads, capacity, head_dim] per layer and
 * feeds it as past_key_values.* (onnxruntime-node passes inputs without a copy). Rows are
 * right-padded: row b's cached tokens sit at positions 0…len_b−1, and attention_mask [batch,
 * width] has len_b + new ones first, then zeros, so len_b = ones − new. Positions past len_b are
 * closed by the mask, so the capacity may be larger than anything cached. The new positions' keys
 * and values come out as `new_key_values.{i}.key|value` [batch, kv_heads, new, head_dim] for the
 * caller to write in at len_b.
 *
 * Same values with and without the prefix cache: floating-point sums depend on their order and
 * grouping, so a prompt's keys are laid out as if nothing had been cached (see attentionContext),
 * whether its start was restored, read in earlier chunks, or read in this run. Decode steps read
 * the past in place; their values differ from a prompt's in the last bits, which is why only
 * prompts go into the prefix cache (scheduler.ts). The capacity is a multiple of 16 (kv-slots.ts),
 * which keeps a decode step's sums the same whatever the capacity: ONNX Runtime's softmax and
 * MatMul group their terms by index from the start, and closed positions add exact zeros.
 *
 * `present.*` (past and new together) is what Optimum-style callers feed back as the next past
 * (@huggingface/transformers, `GptSession` without its own cache). Making it is the copy this
 * graph avoids, so it is made only for callers that look like them: whose mask is exactly past +
 * new wide. A caller that keeps its own cache feeds a mask one column wider (kv-slots.ts `mask`)
 * and gets empty present.* tensors. An extra input would say it more plainly, but
 * transformers.js refuses to run a graph with inputs it does not know.
 *
 * Per layer: the query heads are grouped under their KV head ([batch, kv_heads, new·groups,
 * head_dim], transformers' repeat_kv order), scored against the past in place and against the
 * joined keys (FusedMatMul reads keys transposed where they are), the scores softmaxed as one row
 * under one bias, and the context summed from the past values and the joined ones.
 */
import { io } from './gpt.ts';
import { ElemType, MS_DOMAIN, type GraphBuilder } from './graph.ts';

/** Names of the positions a run added to layer i's cache, [batch, kv_heads, seq, head_dim]. */
export const newCacheNames = {
  key: (i: number) => `new_key_values.${i}.key`,
  value: (i: number) => `new_key_values.${i}.value`,
} as const;

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Keys `window` or more positions before the query are closed (transformers' sliding_window). */
  slidingWindow?: number;
}

export interface PastKv {
  key: string;
  value: string;
}

/** Masked scores get this added: it vanishes in softmax and never overflows. */
const MASKED = -1e9;

/** What every layer's attention shares, computed once per graph. */
export interface AttentionContext {
  /** Additive bias [batch, 1, new·groups, capacity + joined]. */
  bias: string;
  /** Split sizes [capacity, joined] of the scores. */
  parts: string;
  /** Positions of the past joined with the new ones: the cached length in a prompt's run, 0 in a decode step. */
  joinedPast: string;
  /** Whether the caller wants present.* (its mask is exactly past + new wide). */
  wantsPresent: string;
  shape: AttentionShape;
  /** Shape and index constants every layer uses. */
  constants: Record<'kvHeads' | 'queryGroups' | 'queryRows' | 'contextGroups' | 'merged' | 'zero' | 'positionsAxis', string>;
}

/**
 * Keys come in two parts, scored separately and softmaxed as one row:
 * - the past where it is ([capacity] positions, read in place), open in a decode step (one new
 *   token) up to each row's cached length;
 * - "joined": in a run of several new tokens (a prompt, or a chunk of one), the cached positions
 *   copied out and the new ones after them; in a decode step, the new token alone.
 * A prompt's tokens thus see their keys contiguous from position 0, laid out as when nothing was
 * cached, so a prompt computes the same values whether its start was restored from the prefix
 * cache, read in other chunks, or read here (the copy is small beside the prompt's own work). A
 * decode step reads the whole past without copying it. The caller keeps a prompt's later runs at
 * two tokens or more (scheduler.ts), since a one-token run is taken for a decode step.
 */
export function attentionContext(g: GraphBuilder, ids: string, mask: string, pastKey: string, shape: AttentionShape): AttentionContext {
  const { heads, kvHeads, headDim } = shape;
  const groups = heads / kvHeads;
  const one = g.int64s([1], 'one', true);
  const zero = g.int64s([0], 'zero', true);
  const scalar = (t: string): string => g.op('Squeeze', [t], {}, `${t}_scalar`);
  const added = g.op('Shape', [ids], { start: 1, end: 2 }, 'new_len');
  const capacity = g.op('Shape', [pastKey], { start: 2, end: 3 }, 'capacity');
  const width = g.op('Shape', [mask], { start: 1, end: 2 }, 'mask_width');
  // Cached length per row, [batch, 1].
  const cached = g.op('Sub', [g.op('ReduceSum', [mask, g.int64s([1], 'mask_axis')], { keepdims: 1 }, 'mask_ones'), added], {}, 'cached_len');
  const cached3 = g.op('Unsqueeze', [cached, g.int64s([2], 'axis2')], {}, 'cached_len3'); // [batch, 1, 1]
  const prompt = g.op('Greater', [added, g.int64s([1], 'one1')], {}, 'reads_prompt'); // [1]
  const joinedPast = g.op('Where', [prompt, g.op('ReduceMax', [cached], { keepdims: 0 }, 'max_cached'), g.int64s([0], 'zero1')], {}, 'joined_past'); // [1]
  const joined = g.op('Add', [joinedPast, added], {}, 'joined_len'); // [1]

  // Query rows are new·groups, row r being new token r div groups.
  const rows = g.op('Mul', [scalar(added), g.int64s([groups], 'groups', true)], {}, 'query_rows');
  const token = g.op('Div', [g.op('Range', [zero, rows, one], {}, 'query_row'), g.int64s([groups], 'groups_div', true)], {}, 'query_token');
  const tokenCol = g.op('Unsqueeze', [token, g.int64s([1], 'axis1')], {}, 'query_token_col'); // [rows, 1]
  const queryPos = g.op('Add', [cached3, tokenCol], {}, 'query_pos'); // [batch, rows, 1]
  const window = shape.slidingWindow !== undefined ? g.int64s([shape.slidingWindow], 'window', true) : undefined;
  /** `open` and, with a sliding window, `distance` below it. */
  const inWindow = (open: string, distance: () => string) => (window ? g.op('And', [open, g.op('Less', [distance(), window])]) : open);

  // The past in place: cached positions, in decode steps only.
  const pastPos = g.op('Range', [zero, scalar(capacity), one], {}, 'past_pos'); // [capacity]
  const pastCached = g.op('And', [g.op('Less', [pastPos, cached3]), g.op('Not', [prompt])], {}, 'past_cached'); // [batch, 1, capacity]
  const pastOpen = inWindow(pastCached, () => g.op('Sub', [queryPos, pastPos]));
  // Joined: index c < joinedPast is cached position c; after it, new token c − joinedPast.
  const index = g.op('Range', [zero, scalar(joined), one], {}, 'joined_index'); // [joined]
  const newToken = g.op('Sub', [index, joinedPast], {}, 'joined_token');
  const cachedOpen = inWindow(g.op('Less', [index, cached3]), () => g.op('Sub', [queryPos, index])); // [batch, rows?, joined]
  const newOpen = inWindow(g.op('LessOrEqual', [newToken, tokenCol], {}, 'causal'), () => g.op('Sub', [tokenCol, newToken])); // [rows, joined]
  // (ONNX Runtime's CPU Where takes no booleans.)
  const isCached = g.op('Less', [index, joinedPast], {}, 'joined_is_cached');
  const joinedOpen = g.op('Or', [g.op('And', [isCached, cachedOpen]), g.op('And', [g.op('Not', [isCached]), newOpen])], {}, 'joined_open');

  const batch = g.op('Shape', [mask], { start: 0, end: 1 }, 'batch');
  const toBias = (open: string, keys: string, name: string): string =>
    g.op('Expand', [g.op('Where', [open, g.float(0), g.float(MASKED)]), g.op('Concat', [batch, g.op('Unsqueeze', [rows, g.int64s([0])]), keys], { axis: 0 })], {}, name);
  const bias = g.op('Concat', [toBias(pastOpen, capacity, 'past_bias'), toBias(joinedOpen, joined, 'joined_bias')], { axis: 2 }, 'bias');
  return {
    bias: g.op('Unsqueeze', [bias, g.int64s([1], 'heads_axis')], {}, 'attention_bias'),
    parts: g.op('Concat', [capacity, joined], { axis: 0 }, 'score_parts'),
    joinedPast,
    wantsPresent: scalar(g.op('Equal', [width, g.op('Add', [capacity, added])], {}, 'wants_present')),
    shape,
    constants: {
      kvHeads: g.int64s([0, 0, kvHeads, headDim], 'kv_heads_shape'),
      queryGroups: g.int64s([0, 0, kvHeads, groups, headDim], 'q_groups_shape'),
      queryRows: g.int64s([0, kvHeads, -1, headDim], 'q_rows_shape'),
      contextGroups: g.int64s([0, kvHeads, -1, groups, headDim], 'ctx_groups_shape'),
      merged: g.int64s([0, 0, heads * headDim], 'merged_shape'),
      zero: g.int64s([0], 'slice_start'),
      positionsAxis: g.int64s([2], 'positions_axis'),
    },
  };
}

/**
 * Layer `layer`'s attention from q [batch, seq, heads·head_dim] and the new k, v [batch, seq,
 * kv_heads·head_dim] (k already rotated). Names new_key_values.{layer}.*; returns the context
 * [batch, seq, heads·head_dim].
 */
export function cachedAttention(g: GraphBuilder, [q, k, v]: readonly [string, string, string], past: PastKv, context: AttentionContext, layer: number): string {
  const { headDim } = context.shape;
  const c = context.constants;
  const toHeads = (t: string, name: string) => g.node('Transpose', [g.op('Reshape', [t, c.kvHeads], {}, 'kv_heads')], [name], { perm: [0, 2, 1, 3] })[0]!;
  const joinCached = (cached: string, added: string, name: string) =>
    g.op('Concat', [g.op('Slice', [cached, c.zero, context.joinedPast, c.positionsAxis]), added], { axis: 2 }, name);
  const newKey = toHeads(k, newCacheNames.key(layer));
  const newValue = toHeads(v, newCacheNames.value(layer));
  const joinedKey = joinCached(past.key, newKey, 'joined_key');
  const joinedValue = joinCached(past.value, newValue, 'joined_value');
  // [batch, seq, kv_heads, groups, head_dim] → [batch, kv_heads, seq·groups, head_dim].
  const grouped = g.op('Transpose', [g.op('Reshape', [q, c.queryGroups])], { perm: [0, 2, 1, 3, 4] });
  const queries = g.op('Reshape', [grouped, c.queryRows], {}, 'grouped_q');
  const scale = { f: 1 / Math.sqrt(headDim) };
  const pastScores = g.op('FusedMatMul', [queries, past.key], { transB: 1, alpha: scale }, 'past_scores', MS_DOMAIN);
  const joinedScores = g.op('FusedMatMul', [queries, joinedKey], { transB: 1, alpha: scale }, 'joined_scores', MS_DOMAIN);
  const scores = g.op('Add', [g.op('Concat', [pastScores, joinedScores], { axis: 3 }), context.bias], {}, 'scores');
  const [pastProbs, joinedProbs] = g.node('Split', [g.op('Softmax', [scores], { axis: -1 }, 'probs'), context.parts], ['past_probs', 'joined_probs'], { axis: 3 });
  const ctx = g.op('Add', [g.op('MatMul', [pastProbs!, past.value]), g.op('MatMul', [joinedProbs!, joinedValue])], {}, 'context');
  // Back to [batch, seq, heads·head_dim], query head = kv head · groups + group.
  const perToken = g.op('Reshape', [ctx, c.contextGroups]);
  return g.op('Reshape', [g.op('Transpose', [perToken], { perm: [0, 2, 1, 3, 4] }), c.merged], {}, 'attn');
}

/**
 * present.{i}.key|value: past and new joined for callers whose mask says they want them, else
 * empty [1, kv_heads, 0, head_dim] tensors (one If, so that the joining is not even run).
 */
export function presentOutputs(g: GraphBuilder, context: AttentionContext, past: readonly PastKv[], layers: number): void {
  const { kvHeads, headDim } = context.shape;
  const names = Array.from({ length: layers }, (_, i) => [io.presentKey(i), io.presentValue(i)]).flat();
  const shape = ['batch_size', kvHeads, 'present_sequence_length', headDim];
  const joined = g.subgraph('join_present', (branch) =>
    past.flatMap((p, i) =>
      ([[p.key, newCacheNames.key(i)], [p.value, newCacheNames.value(i)]] as const).map(([old, added]) => ({
        name: branch.op('Concat', [old, added], { axis: 2 }, 'present_joined'),
        elemType: ElemType.FLOAT,
        dims: shape,
      })),
    ),
  );
  const empty = g.subgraph('skip_present', (branch) =>
    names.map(() => ({ name: branch.floats(new Float32Array(0), [1, kvHeads, 0, headDim], 'present_empty'), elemType: ElemType.FLOAT, dims: shape })),
  );
  g.node('If', [context.wantsPresent], names, { then_branch: joined, else_branch: empty });
}

/** Declares new_key_values.{i}.key/value as outputs (after declareDecoderOutputs' logits and present.*). */
export function declareNewCacheOutputs(g: GraphBuilder, s: { layers: number; kvHeads: number; headDim: number }): void {
  const shape = ['batch_size', s.kvHeads, 'sequence_length', s.headDim];
  for (let i = 0; i < s.layers; i++) {
    g.output(newCacheNames.key(i), ElemType.FLOAT, shape);
    g.output(newCacheNames.value(i), ElemType.FLOAT, shape);
  }
}
