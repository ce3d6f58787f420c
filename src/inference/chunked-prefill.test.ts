import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../test/support/collect.ts';
import { buildTinyModel, type TinyModel } from '../../test/support/tiny-model.ts';
import { InferenceEngine } from './engine.ts';
import { promptRun } from './scheduler.ts';

let tiny: TinyModel;
const engines = new Map<number, InferenceEngine>();
const CHUNKS = [0, 7, 64];
const registries = new Map<number, Registry>();
beforeAll(async () => {
  tiny = buildTinyModel(31, 600);
  for (const chunk of CHUNKS) {
    registries.set(chunk, new Registry());
    engines.set(chunk, await InferenceEngine.start({ modelPath: tiny.dir, maxBatchSize: 4, intraOpThreads: 1, prefillChunkTokens: chunk, registry: registries.get(chunk) }));
  }
});
afterAll(async () => {
  await Promise.all([...engines.values()].map((e) => e.close()));
  tiny?.remove();
});

const long = 'words that make a long prompt for the engine to read in pieces '.repeat(30);

describe('chunked prefill (PREFILL_CHUNK_TOKENS)', () => {
  it('gives the same prompt logits and tokens whatever the chunk size, alone and among others', async () => {
    const requests = [
      { input: { prompt: long }, params: { temperature: 0, maxTokens: 12, minTokens: 12 } },
      { input: { prompt: 'short' }, params: { temperature: 0.7, seed: 2, maxTokens: 20, minTokens: 20 } },
      { input: { prompt: long.slice(0, 200) }, params: { temperature: 0.7, seed: 3, maxTokens: 5, minTokens: 5 } },
      { input: { prompt: long.slice(0, 90) }, params: { temperature: 0, maxTokens: 1 } },
    ];
    const results = new Map<number, { tokens: number[][]; logits: Float32Array[][] }>();
    for (const [chunk, engine] of engines) {
      const run = async (r: (typeof requests)[number]) => (await collect(engine.generate({ ...r, diagnostics: true }))).done.diagnostics!;
      const alone = [];
      for (const r of requests) alone.push(await run(r));
      const together = await Promise.all(requests.map(run));
      expect(together.map((d) => d.tokenIds)).toEqual(alone.map((d) => d.tokenIds));
      for (const d of alone) expect(d.promptLogits).toHaveLength(d.promptIds.length);
      results.set(chunk, { tokens: alone.map((d) => d.tokenIds), logits: alone.map((d) => d.promptLogits) });
    }
    const whole = results.get(0)!;
    for (const chunk of [7, 64]) {
      const chunked = results.get(chunk)!;
      expect(chunked.tokens).toEqual(whole.tokens);
      chunked.logits.forEach((rows, r) =>
        rows.forEach((row, p) => {
          let diff = 0;
          row.forEach((x, v) => (diff = Math.max(diff, Math.abs(x - whole.logits[r]![p]![v]!))));
          expect(diff, `request ${r}, position ${p}, chunk ${chunk}`).toBeLessThan(1e-4);
        }),
      );
    }
  });

  it('keeps the running streams going while a long prompt is read', async () => {
    /**
     * Decode steps stream A takes alone while B's long prompt is waiting or being read: A's
     * diagnostics record, for each of its steps, the batch size and how many requests were in the
     * scheduler but not decoding. Counted from B's arrival on the engine thread, so neither the
     * order nor the timing of the two messages matters.
     */
    const stepsAlone = async (engine: InferenceEngine) => {
      const a = collect(engine.generate({ input: { prompt: 'keep going' }, params: { temperature: 0.7, seed: 1, maxTokens: 150, minTokens: 150 }, diagnostics: true }));
      const b = collect(engine.generate({ input: { prompt: long }, params: { maxTokens: 2, minTokens: 2 } }));
      const [{ done }] = await Promise.all([a, b]);
      const { batchSizes, promptsPending } = done.diagnostics!;
      expect(batchSizes.some((size) => size > 1), 'B joined A while A decoded').toBe(true);
      return batchSizes.filter((size, step) => size === 1 && promptsPending[step]! > 0).length;
    };
    const whole = await stepsAlone(engines.get(0)!);
    const chunked = await stepsAlone(engines.get(7)!);
    // The prompt is ~400 tokens: read whole, it joins in the step after it arrives (the one it
    // arrived in, while A's prompt was read, may already be under way); in chunks of 7, A decodes
    // a step per chunk meanwhile.
    expect(whole).toBeLessThanOrEqual(1);
    expect(chunked).toBeGreaterThan(30);
  });

  it('counts its prompt runs in prefill_chunks_total', async () => {
    const chunksCounted = async (chunk: number) =>
      (await registries.get(chunk)!.getMetricsAsJSON()).find((m) => m.name === 'prefill_chunks_total')?.values[0]?.value ?? 0;
    for (const chunk of [0, 7]) {
      const before = await chunksCounted(chunk);
      const { done } = await collect(engines.get(chunk)!.generate({ input: { prompt: long.slice(0, 150) }, params: { temperature: 0, maxTokens: 2 } }));
      let runs = 0;
      for (let read = 0; read < done.usage.promptTokens; runs++) read += promptRun(done.usage.promptTokens - read, chunk || Infinity, read > 0);
      expect(runs).toBeGreaterThan(chunk ? 1 : 0);
      expect((await chunksCounted(chunk)) - before).toBe(runs);
    }
  });
});
