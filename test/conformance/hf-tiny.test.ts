/**
 * Conformance with Hugging Face transformers and ONNX Runtime's own tools: every fixture folder
 * and every variant in it, served through the engine (worker thread, scheduler, batching) as in
 * production, must give the reference prompt ids, logits and greedy tokens. The references were
 * computed outside this project (see test/fixtures/hf-tiny/README.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceEngine, type GenerateRequest } from '../../src/inference/engine.ts';
import type { ModelDtype } from '../../src/inference/model-variants.ts';
import type { Diagnostics } from '../../src/inference/protocol.ts';
import { collect } from '../support/collect.ts';
import { HF_TINY_MODELS, hfTinyDir, maxAbsDiff, reference, variantReferences, type HfTinyModel } from '../support/hf-tiny.ts';

const VARIANTS: ModelDtype[] = ['fp32', 'fp16', 'int8', 'q4'];

/** Greedy, exactly `tokens` new tokens: EOS cannot end it early (min_new_tokens in the references). */
const greedy = (tokens: number) => ({ temperature: 0, maxTokens: tokens, minTokens: tokens });

async function diagnose(engine: InferenceEngine, request: GenerateRequest): Promise<Diagnostics> {
  const { done } = await collect(engine.generate({ ...request, diagnostics: true }));
  return done.diagnostics!;
}

/** A request of another length decoding alongside; resolves when it ends, with the time. */
function neighbour(engine: InferenceEngine, i: number, onFirstToken?: () => void): Promise<number> {
  const words = 'Permission is hereby granted free of charge to any person obtaining a copy of this software'.split(' ');
  const tokens = 60 + i * 10;
  let first = true;
  const events = engine.generate({ input: { prompt: words.slice(0, 2 + i * 2).join(' ') }, params: { temperature: 0.7, seed: i, maxTokens: tokens, minTokens: tokens } });
  return collect(events, () => {
    if (first) onFirstToken?.();
    first = false;
  }).then(() => performance.now());
}

describe.each(HF_TINY_MODELS)('%s', (model: HfTinyModel) => {
  const ref = reference(model);
  const variants = variantReferences(model);

  describe.each(VARIANTS)('%s', (dtype) => {
    let engine: InferenceEngine;
    beforeAll(async () => {
      engine = await InferenceEngine.start({ modelPath: hfTinyDir(model), dtype, maxBatchSize: 8, intraOpThreads: 1 });
    });
    afterAll(async () => engine?.close());

    const expectedGreedy = dtype === 'fp32' ? ref.greedy_ids : variants[dtype]!.greedy_ids;
    const expectedLogits = dtype === 'fp32' ? ref.logits : variants[dtype]!.prompt_logits;
    const tolerance = dtype === 'fp32' ? 1e-4 : 1e-3;

    it('tokenizes the prompt, and matches the reference logits at every prompt position and the greedy tokens', async () => {
      const result = await diagnose(engine, { input: { prompt: ref.prompt }, params: greedy(ref.greedy_ids.length) });
      expect(result.promptIds).toEqual(ref.prompt_ids);
      expect(maxAbsDiff(result.promptLogits, expectedLogits)).toBeLessThan(tolerance);
      expect(result.tokenIds).toEqual(expectedGreedy);
    });

    it('builds the chat prompt with the chat template as transformers does', async () => {
      const result = await diagnose(engine, { input: { messages: ref.chat_messages }, params: greedy(ref.chat_greedy_ids.length) });
      expect(result.promptIds).toEqual(ref.chat_prompt_ids);
      // transformers' chat reference is float32 only.
      if (dtype === 'fp32') expect(result.tokenIds).toEqual(ref.chat_greedy_ids);
    });

    it('gives the same results while six other requests of different lengths share the batch', async () => {
      // Three are decoding before the requests under test join, three join with them: the cache
      // is re-laid around rows of other lengths both ways. The neighbours are longer, so they
      // are all still in the batch when the requests under test end.
      let started = 0;
      const neighbours: Promise<number>[] = [];
      await new Promise<void>((resolve) => {
        neighbours.push(...[0, 1, 2].map((i) => neighbour(engine, i, () => ++started === 3 && resolve())));
      });
      const prompt = diagnose(engine, { input: { prompt: ref.prompt }, params: greedy(ref.greedy_ids.length) });
      const chat = diagnose(engine, { input: { messages: ref.chat_messages }, params: greedy(ref.chat_greedy_ids.length) });
      neighbours.push(...[3, 4, 5].map((i) => neighbour(engine, i)));
      // Awaited together, so that a failure of one leaves no rejection unhandled.
      const tested = Promise.all([prompt, chat]).then((results) => ({ results, end: performance.now() }));
      const [{ results, end: testedEnd }, neighbourEnds] = await Promise.all([tested, Promise.all(neighbours)]);
      const [promptResult, chatResult] = results;
      expect(neighbourEnds.every((end) => end > testedEnd)).toBe(true);

      expect(promptResult.tokenIds).toEqual(expectedGreedy);
      expect(maxAbsDiff(promptResult.promptLogits, expectedLogits)).toBeLessThan(tolerance);
      expect(chatResult.promptIds).toEqual(ref.chat_prompt_ids);
      if (dtype === 'fp32') expect(chatResult.tokenIds).toEqual(ref.chat_greedy_ids);
    });
  });
});
