/**
 * Turns one step's logits into the next token for one sequence: penalties, temperature,
 * top-k / top-p / min-p filtering and a draw from the request's own seeded generator, so that
 * the same seed gives the same tokens whatever else is running.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { ResolvedParams } from './params.ts';

export class Sampler {
  private readonly rng;
  /** How often each token was generated, for the frequency and presence penalties. */
  private readonly generatedCounts = new Map<number, number>();
  /** Every token seen (prompt and generated), for the repetition penalty. */
  private readonly seen = new Set<number>();

  constructor(
    private readonly params: ResolvedParams,
    promptIds: readonly number[],
  ) {
    this.rng = xoroshiro128plus(params.seed);
    for (const id of promptIds) this.seen.add(id);
  }

  /** Records a token chosen for this sequence. */
  accept(tokenId: number): void {
    this.seen.add(tokenId);
    this.generatedCounts.set(tokenId, (this.generatedCounts.get(tokenId) ?? 0) + 1);
  }

  /** Picks the next token. `logits` is this sequence's row; it is modified in place. */
  sample(logits: Float32Array): number {
    this.applyPenalties(logits);
    if (this.params.temperature === 0) return argmax(logits);
    return this.draw(logits);
  }

  private applyPenalties(logits: Float32Array): void {
    const { repetitionPenalty, frequencyPenalty, presencePenalty } = this.params;
    if (repetitionPenalty !== 1) {
      // As in the CTRL paper and Hugging Face: shrink positive logits, grow negative ones.
      for (const id of this.seen) {
        const value = logits[id]!;
        logits[id] = value > 0 ? value / repetitionPenalty : value * repetitionPenalty;
      }
    }
    if (frequencyPenalty !== 0 || presencePenalty !== 0) {
      // As in the OpenAI API: over generated tokens only.
      for (const [id, count] of this.generatedCounts) {
        logits[id] = logits[id]! - frequencyPenalty * count - presencePenalty;
      }
    }
  }

  private draw(logits: Float32Array): number {
    const { temperature, topK, topP, minP } = this.params;
    const top = logits[argmax(logits)]!;
    // Without top-k / top-p / min-p nothing needs ordering: draw straight from the softmax.
    if ((topK === 0 || topK >= logits.length) && topP >= 1 && minP === 0) {
      const weights = new Float64Array(logits.length);
      let total = 0;
      for (let id = 0; id < logits.length; id++) total += weights[id] = Math.exp((logits[id]! - top) / temperature);
      let target = uniformFloat64(this.rng) * total;
      for (let id = 0; id < logits.length; id++) {
        target -= weights[id]!;
        if (target < 0) return id;
      }
      return logits.length - 1;
    }
    // Tokens more than e^-40 less likely than the best one cannot be drawn in practice; leaving
    // them out before sorting keeps a step cheap with vocabularies of 50k and more.
    const floor = top - 40 * temperature;
    let candidates: number[] = [];
    for (let id = 0; id < logits.length; id++) if (logits[id]! >= floor) candidates.push(id);
    candidates.sort((a, b) => logits[b]! - logits[a]! || a - b);
    if (topK > 0 && topK < candidates.length) candidates = candidates.slice(0, topK);

    const weights = candidates.map((id) => Math.exp((logits[id]! - top) / temperature));
    const total = weights.reduce((sum, w) => sum + w, 0);

    // min-p: drop tokens whose probability is below minP times the top one's.
    let keep = candidates.length;
    if (minP > 0) {
      const threshold = minP * weights[0]!;
      while (keep > 1 && weights[keep - 1]! < threshold) keep--;
    }
    // top-p: the smallest prefix whose probability reaches topP.
    if (topP < 1) {
      let cumulative = 0;
      for (let i = 0; i < keep; i++) {
        cumulative += weights[i]! / total;
        if (cumulative >= topP) {
          keep = i + 1;
          break;
        }
      }
    }
    let kept = 0;
    for (let i = 0; i < keep; i++) kept += weights[i]!;
    let target = uniformFloat64(this.rng) * kept;
    for (let i = 0; i < keep; i++) {
      target -= weights[i]!;
      if (target < 0) return candidates[i]!;
    }
    return candidates[keep - 1]!;
  }
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
