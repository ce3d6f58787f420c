/**
 * What a decoder session takes and gives, read from its metadata rather than assumed from
 * GPT-2: the KV cache inputs and outputs (names, heads, head size, element type) and whether it
 * wants position_ids (some Optimum exports derive positions from the attention mask).
 */
import type { InferenceSession } from 'onnxruntime-node';

export interface CacheSlot {
  past: string;
  present: string;
}

export interface SessionIO {
  hasPositionIds: boolean;
  /**
   * Optimum's merged decoders (decoder_model_merged.onnx) choose between their no-cache and
   * with-cache subgraphs by this boolean input: false for a prompt read from scratch.
   */
  hasUseCacheBranch: boolean;
  logits: string;
  cache: CacheSlot[];
  kvHeads: number;
  headDim: number;
  kvType: 'float32' | 'float16';
  /**
   * Outputs holding only the positions a run added (new_key_values.N.key|value), in `cache`
   * order, when the graph has them for every slot: the engine then keeps the cache in place
   * (kv-slots.ts) instead of taking present.* back each step.
   */
  newCache?: string[];
}

const PAST = /^past_key_values\.(\d+)\.(key|value)$/;
const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'position_ids', 'use_cache_branch']);

export function describeSession(session: Pick<InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata'>): SessionIO {
  const problems: string[] = [];
  for (const name of ['input_ids', 'attention_mask']) if (!session.inputNames.includes(name)) problems.push(`no input ${name}`);
  if (!session.outputNames.includes('logits')) problems.push('no output logits');

  const cache: CacheSlot[] = [];
  let kvHeads = 0;
  let headDim = 0;
  let kvType: SessionIO['kvType'] = 'float32';
  for (const meta of session.inputMetadata) {
    const match = PAST.exec(meta.name);
    if (!match) continue;
    const present = `present.${match[1]}.${match[2]}`;
    if (!session.outputNames.includes(present)) problems.push(`no output ${present} for ${meta.name}`);
    cache.push({ past: meta.name, present });
    if (meta.isTensor) {
      const [, heads, , dim] = meta.shape;
      if (typeof heads === 'number') kvHeads = heads;
      if (typeof dim === 'number') headDim = dim;
      if (meta.type === 'float16') kvType = 'float16';
    }
  }
  // An input we would not feed fails every request at run time; say so at start instead.
  const unknown = session.inputNames.filter((name) => !KNOWN_INPUTS.has(name) && !PAST.test(name));
  if (unknown.length > 0) problems.push(`inputs this engine does not feed: ${unknown.join(', ')}`);
  if (cache.length === 0) problems.push('no past_key_values.N.key|value inputs (a model exported without KV cache cannot stream efficiently)');
  if (!kvHeads || !headDim) problems.push('KV cache inputs do not give heads and head size as fixed dimensions');
  if (problems.length > 0) throw new Error(`Unsupported ONNX decoder: ${problems.join('; ')}`);

  // Cache order: by layer, key before value, so that slot i of every tensor list lines up.
  cache.sort((a, b) => a.past.localeCompare(b.past, 'en', { numeric: true }));
  const newCache = cache.map((slot) => slot.past.replace(/^past_key_values\./, 'new_key_values.'));
  return {
    ...(newCache.every((name) => session.outputNames.includes(name)) ? { newCache } : {}),
    hasPositionIds: session.inputNames.includes('position_ids'),
    hasUseCacheBranch: session.inputNames.includes('use_cache_branch'),
    logits: 'logits',
    cache,
    kvHeads,
    headDim,
    kvType,
  };
}
