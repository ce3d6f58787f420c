import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { GptSession } from './session.ts';
import { negativeLogLikelihood, perplexityWindows, sessionPerplexity, tokenStream } from './perplexity.ts';

const tiny = fileURLToPath(new URL('../test/fixtures/hf-tiny/gpt2', import.meta.url));

interface Reference {
  prompt_ids: number[];
  logits: number[][];
}

/** log-softmax written out again here, so the test does not lean on the module's own. */
function referenceNll(row: readonly number[], target: number): number {
  const max = Math.max(...row);
  return Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0)) + max - row[target]!;
}

describe('perplexityWindows', () => {
  it.each([
    [2, 256, 128],
    [13, 8, 3],
    [1000, 256, 256],
    [1000, 256, 128],
    [1000, 256, 1],
    [257, 256, 200],
    [600, 100, 37],
  ])('length %i, context %i, stride %i: every target once, inputs within the context', (length, context, stride) => {
    const windows = perplexityWindows(length, context, stride);
    const seen: number[] = [];
    for (const w of windows) {
      expect(w.end - w.start).toBeLessThanOrEqual(context);
      expect(w.start % stride).toBe(0);
      expect(w.end).toBeLessThanOrEqual(length);
      // Target t is predicted from position t − 1, which must lie inside the window's input.
      expect(w.firstTarget - 1).toBeGreaterThanOrEqual(w.start);
      expect(w.lastTarget - 1).toBeLessThan(w.end);
      for (let t = w.firstTarget; t <= w.lastTarget; t++) {
        seen.push(t);
        // Context for target t: all earlier tokens in the first window, at least context − stride + 1 after it.
        if (w.start > 0) expect(t - w.start).toBeGreaterThanOrEqual(context - stride + 1);
      }
    }
    expect(seen).toEqual(Array.from({ length: length - 1 }, (_, i) => i + 1));
  });

  it('rejects a stride longer than the context', () => {
    expect(() => perplexityWindows(100, 8, 9)).toThrow(RangeError);
    expect(() => perplexityWindows(100, 8, 0)).toThrow(RangeError);
  });
});

describe('tokenStream', () => {
  it('encodes each blank-line-separated paragraph on its own and follows it with <|endoftext|>', () => {
    const tok = new Tokenizer(JSON.parse(readFileSync(`${tiny}/tokenizer.json`, 'utf8')), {});
    const eos = tok.token_to_id('<|endoftext|>')!;
    const a = tok.encode('In the beginning', { add_special_tokens: false }).ids;
    const b = tok.encode('the end.', { add_special_tokens: false }).ids;
    expect(tokenStream(tok, 'In the beginning\n\n the end. \n\n\n')).toEqual([...a, eos, ...b, eos]);
  });
});

describe('sessionPerplexity through ONNX Runtime (hf-tiny gpt2, onnx/model.onnx)', () => {
  let session: GptSession;
  beforeAll(async () => {
    session = await GptSession.fromFolder(tiny);
  });
  afterAll(async () => {
    await session.release();
  });

  it("equals the perplexity of the prompt computed from transformers' reference logits within 1e-4 relative", async () => {
    const ref = JSON.parse(readFileSync(`${tiny}/reference.json`, 'utf8')) as Reference;
    const ids = ref.prompt_ids;
    let total = 0;
    for (let t = 1; t < ids.length; t++) total += referenceNll(ref.logits[t - 1]!, ids[t]!);
    const want = Math.exp(total / (ids.length - 1));
    const got = await sessionPerplexity(session, ids);
    expect(got.tokens).toBe(ids.length - 1);
    expect(got.windows).toBe(1);
    expect(Math.abs(got.perplexity - want) / want).toBeLessThan(1e-4);
  });

  it('reads a stream longer than the context in windows: target t is scored from the window starting at ⌈(t − C) / s⌉·s', async () => {
    const ids = Array.from({ length: 41 }, (_, i) => (i * 97 + 13) % session.config.vocab);
    const context = 8;
    const stride = 3;
    let total = 0;
    for (let t = 1; t < ids.length; t++) {
      const start = t <= context ? 0 : Math.ceil((t - context) / stride) * stride;
      const { logits } = await session.step(ids.slice(start, t));
      const V = session.config.vocab;
      total += negativeLogLikelihood(logits.subarray(logits.length - V), ids[t]!);
    }
    const want = Math.exp(total / (ids.length - 1));
    const got = await sessionPerplexity(session, ids, { context, stride });
    expect(got).toMatchObject({ tokens: 40, context: 8, stride: 3 });
    expect(Math.abs(got.perplexity - want) / want).toBeLessThan(1e-6);
    // Shorter context per target than the full-context reading: a different figure, so the windows matter.
    const whole = await sessionPerplexity(session, ids);
    expect(Math.abs(whole.perplexity - got.perplexity) / want).toBeGreaterThan(1e-4);
  });

  it('refuses a context longer than the model has', async () => {
    await expect(sessionPerplexity(session, [1, 2, 3], { context: session.config.context + 1 })).rejects.toThrow(RangeError);
  });
});
