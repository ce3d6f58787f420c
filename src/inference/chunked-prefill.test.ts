import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../test/support/collect.ts';
import { buildTinyModel, type TinyModel } from '../../test/support/tiny-model.ts';
import { InferenceEngine } from './engine.ts';

let tiny: TinyModel;
const engines = new Map<number, InferenceEngine>();
const CHUNKS = [0, 7, 64];
beforeAll(async () => {
  tiny = buildTinyModel(31, 600);
  for (const chunk of CHUNKS) engines.set(chunk, await InferenceEngine.start({ modelPath: tiny.dir, maxBatchSize: 4, intraOpThreads: 1, prefillChunkTokens: chunk }));
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
    /** Tokens stream A gets between B's arrival and B's first token. */
    const tokensWhileReading = async (engine: InferenceEngine) => {
      let aTokens = 0;
      let atArrival = -1;
      let atFirstOfB = -1;
      let b: Promise<unknown> | undefined;
      const a = collect(engine.generate({ input: { prompt: 'keep going' }, params: { temperature: 0.7, seed: 1, maxTokens: 150, minTokens: 150 } }), () => {
        aTokens++;
        if (aTokens === 3) {
          atArrival = aTokens;
          b = collect(engine.generate({ input: { prompt: long }, params: { maxTokens: 2, minTokens: 2 } }), () => {
            if (atFirstOfB < 0) atFirstOfB = aTokens;
          });
        }
      });
      await a;
      await b;
      return atFirstOfB - atArrival;
    };
    const whole = await tokensWhileReading(engines.get(0)!);
    const chunked = await tokensWhileReading(engines.get(7)!);
    // The prompt is ~400 tokens: read whole, A waits one step; in chunks of 7, A gets a token per chunk.
    expect(whole).toBeLessThanOrEqual(2);
    expect(chunked).toBeGreaterThan(30);
  });
});
