/**
 * Log-probabilities of sampled tokens, as OpenAI's API and vLLM report them by default: the
 * log-softmax of the model's raw logits, before penalties, temperature and truncation, so they
 * describe the model rather than the sampling settings. Computed only for requests that ask.
 */
import type { TokenAlternative, TokenLogprob } from './protocol.ts';

/** Most alternatives a request may ask for per token (OpenAI's top_logprobs limit). */
export const MAX_TOP_LOGPROBS = 20;

/** A logits row's log-normaliser and its `k` most likely tokens, best first. */
export interface Distribution {
  logits: Float32Array;
  logNormaliser: number;
  top: { id: number; logprob: number }[];
}

/** Reads a row before anything modifies it (the sampler works in place): keeps a copy. */
export function distributionOf(row: Float32Array, k: number): Distribution {
  const logits = Float32Array.from(row);
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const logNormaliser = max + Math.log(sum);
  // k ≤ 20 over a vocabulary of tens of thousands: insertion into a short sorted list beats sorting it all.
  const best: number[] = [];
  if (k > 0) {
    for (let id = 0; id < logits.length; id++) {
      if (best.length === k && logits[id]! <= logits[best[k - 1]!]!) continue;
      let at = best.length === k ? k - 1 : best.length;
      while (at > 0 && logits[best[at - 1]!]! < logits[id]!) {
        best[at] = best[at - 1]!;
        at--;
      }
      best[at] = id;
    }
  }
  return { logits, logNormaliser, top: best.map((id) => ({ id, logprob: logits[id]! - logNormaliser })) };
}

/**
 * The chosen token's entry, its text and its alternatives' read after `previous` (the token
 * before it), so that leading spaces come out as the tokenizer writes them in context.
 */
export function tokenLogprob(dist: Distribution, chosen: number, previous: number, codec: { decode(ids: readonly number[]): string }): TokenLogprob {
  const before = previous >= 0 ? codec.decode([previous]) : '';
  const text = (id: number) => (previous >= 0 ? codec.decode([previous, id]).slice(before.length) : codec.decode([id]));
  const alternative = (id: number, logprob: number): TokenAlternative => ({ token: text(id), logprob });
  return { ...alternative(chosen, dist.logits[chosen]! - dist.logNormaliser), top: dist.top.map(({ id, logprob }) => alternative(id, logprob)) };
}
