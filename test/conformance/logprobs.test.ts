/**
 * Log-probabilities against transformers' own logits (test/fixtures/hf-tiny): the engine's
 * reported log-probabilities of a first token must be the log-softmax of the reference logits
 * at the prompt's last position, and stay so whatever the sampling settings (they describe the
 * model, before penalties and temperature, as vLLM and OpenAI report them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine } from '../../src/inference/engine.ts';
import { collect } from '../support/collect.ts';
import { hfTinyDir, reference } from '../support/hf-tiny.ts';

const ref = reference('llama-gqa');
let engine: InferenceEngine;
beforeAll(async () => {
  engine = await InferenceEngine.start({ modelPath: hfTinyDir('llama-gqa'), dtype: 'fp32', maxBatchSize: 4, intraOpThreads: 1 });
});
afterAll(() => engine?.close());

const referenceLogprobs = (() => {
  const row = ref.logits.at(-1)!;
  const max = Math.max(...row);
  const logZ = max + Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0));
  return row.map((x) => x - logZ);
})();
const referenceTop = (k: number) => [...referenceLogprobs].sort((a, b) => b - a).slice(0, k);

const tokensOf = async (params: Parameters<InferenceEngine['generate']>[0]['params']) => (await collect(engine.generate({ input: { prompt: ref.prompt }, params }))).tokens;

describe('log-probabilities', () => {
  it('are the log-softmax of the model’s logits, with the best alternatives first', async () => {
    const tokens = await tokensOf({ temperature: 0, maxTokens: 4, minTokens: 4, logprobs: 5 });
    const [first] = tokens[0]!.logprobs!;
    expect(first!.logprob).toBeCloseTo(referenceLogprobs[ref.greedy_ids[0]!]!, 4);
    expect(first!.top.map((t) => t.logprob)).toEqual(referenceTop(5).map((x) => expect.closeTo(x, 4)));
    // Greedy: the chosen token is the best one, every time.
    for (const entry of tokens.flatMap((t) => t.logprobs!)) {
      expect(entry.top).toHaveLength(5);
      expect(entry.top[0]!.token).toBe(entry.token);
      expect(entry.logprob).toBe(entry.top[0]!.logprob);
    }
    // One entry per token, their texts making the reply.
    expect(tokens.flatMap((t) => t.logprobs!.map((e) => e.token)).join('')).toBe(tokens.map((t) => t.delta).join(''));
  });

  it('do not depend on temperature or penalties', async () => {
    const tokens = await tokensOf({ temperature: 1.8, repetitionPenalty: 3, presencePenalty: 2, seed: 7, maxTokens: 1, minTokens: 1, logprobs: 3 });
    const [first] = tokens[0]!.logprobs!;
    expect(first!.top.map((t) => t.logprob)).toEqual(referenceTop(3).map((x) => expect.closeTo(x, 4)));
  });

  it('are not computed unless asked for', async () => {
    const tokens = await tokensOf({ temperature: 0, maxTokens: 3, minTokens: 3 });
    expect(tokens.length).toBeGreaterThan(0);
    for (const token of tokens) expect(token.logprobs).toBeUndefined();
  });
});
