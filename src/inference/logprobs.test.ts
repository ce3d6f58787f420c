import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distributionOf, tokenLogprob } from './logprobs.ts';

/** Log-softmax the long way, in float64, as the reference. */
const logSoftmax = (row: number[]) => {
  const max = Math.max(...row);
  const logZ = max + Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0));
  return row.map((x) => x - logZ);
};

describe('distributionOf', () => {
  it('gives the log-softmax of the row and its k best tokens, best first, whatever the row', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -30, max: 30, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 0, max: 20 }), (values, k) => {
        const row = Float32Array.from(values);
        const expected = logSoftmax([...row]);
        const dist = distributionOf(row, k);
        row.forEach((x, id) => expect(x - dist.logNormaliser).toBeCloseTo(expected[id]!, 4));
        const best = expected.map((logprob, id) => ({ id, logprob })).sort((a, b) => b.logprob - a.logprob || a.id - b.id);
        expect(dist.top.map((t) => t.logprob)).toEqual(best.slice(0, k).map((t) => expect.closeTo(t.logprob, 4)));
        expect(dist.top).toHaveLength(Math.min(k, row.length));
        expect(new Set(dist.top.map((t) => t.id)).size).toBe(dist.top.length);
      }),
    );
  });

  it('keeps its own copy: the sampler may modify the row afterwards', () => {
    const row = Float32Array.from([1, 2, 3]);
    const dist = distributionOf(row, 1);
    row[0] = -Infinity;
    expect(dist.logits[0]).toBe(1);
  });
});

describe('tokenLogprob', () => {
  // A tokenizer that, like SentencePiece's, drops a token's leading space when it starts the text.
  const vocab = ['a', ' b', ' c', '\u00e9'];
  const codec = { decode: (ids: readonly number[]) => ids.map((id) => vocab[id]).join('').replace(/^ /, '') };

  it('writes each token as it reads after the one before (leading spaces kept)', () => {
    const dist = distributionOf(Float32Array.from([0, 2, 1, -1]), 2);
    const entry = tokenLogprob(dist, 2, 0, codec);
    expect(entry.token).toBe(' c');
    expect(entry.logprob).toBeCloseTo(logSoftmax([0, 2, 1, -1])[2]!, 6);
    expect(entry.top.map((t) => t.token)).toEqual([' b', ' c']);
  });

  it('reads a token alone where there is none before it', () => {
    const entry = tokenLogprob(distributionOf(Float32Array.from([0, 2, 1, -1]), 0), 1, -1, codec);
    expect(entry).toEqual({ token: 'b', logprob: expect.any(Number), top: [] });
  });
});
