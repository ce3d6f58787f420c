import { ElemType, type GraphBuilder } from './graph.ts';

/** Masked attention scores get this added: large enough to vanish in softmax, small enough never to overflow. */
const MASKED = -1e9;

/**
 * The additive attention bias [batch, 1, seq, total] both our graphs use: causal over absolute
 * positions (queries sit at the end of the total sequence), closed where attention_mask is 0
 * (left padding), and with a sliding window also closed for keys `window` or more slots before
 * the query (transformers' rule).
 */
export function attentionBias(g: GraphBuilder, ids: string, mask: string, slidingWindow?: number): string {
  const seqLen = g.op('Shape', [ids], { start: 1, end: 2 }, 'seq_len');
  const totalLen = g.op('Shape', [mask], { start: 1, end: 2 }, 'total_len');
  const pastLen = g.op('Sub', [totalLen, seqLen], {}, 'past_len');
  const scalar = (t: string): string => g.op('Squeeze', [t], {}, `${t}_scalar`);
  const one = g.int64s([1], 'one', true);
  const queryPos = g.op('Unsqueeze', [g.op('Range', [scalar(pastLen), scalar(totalLen), one], {}, 'query_pos'), g.int64s([1])], {}, 'query_col');
  const keyPos = g.op('Range', [g.int64s([0], 'zero', true), scalar(totalLen), one], {}, 'key_pos');
  let allowed = g.op('LessOrEqual', [keyPos, queryPos], {}, 'causal');
  if (slidingWindow !== undefined) {
    const inWindow = g.op('Greater', [keyPos, g.op('Sub', [queryPos, g.int64s([slidingWindow], 'window', true)])], {}, 'in_window');
    allowed = g.op('And', [allowed, inWindow], {}, 'windowed');
  }
  const padding = g.op('Unsqueeze', [g.op('Cast', [mask], { to: ElemType.BOOL }), g.int64s([1, 2])], {}, 'padding');
  return g.op('Where', [g.op('And', [allowed, padding], {}, 'allowed'), g.float(0), g.float(MASKED)], {}, 'attention_bias');
}
