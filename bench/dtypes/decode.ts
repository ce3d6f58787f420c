/**
 * Decode speed of several variants, measured in alternation so that a change in the machine's
 * load during the run (other processes, thermal state) falls on all of them alike.
 *
 * Batch 1 (`interleavedDecodeRates`): each variant's ONNX file in its own GptSession (the bare
 * session loop, no scheduler; the worker's session options), all open at once. A run is split into rounds; in each round every
 * variant, in an order that rotates from round to round, reads a fresh prompt (not timed),
 * makes one untimed step, then `tokens / rounds` timed greedy steps.
 *
 * Streams (`interleavedStreamRates`): one InferenceEngine (the server's worker and batching
 * scheduler, maxBatchSize 8) per variant, all started at once; in each round every variant runs
 * 1 stream, then N concurrent streams, each asked for exactly `tokens` new tokens. Aggregate
 * tokens/s = all streams' new tokens / wall time from the first request to the last reply, so
 * the short prompts' prefill counts in both figures alike.
 */
import { argmax, GptSession } from '../../model/session.ts';
import { defaultInferenceThreads, InferenceEngine } from '../../src/inference/engine.ts';
import { collect } from '../../test/support/collect.ts';
import type { Variant } from './folders.ts';

/**
 * The worker's own settings (src/inference/ort-session.ts): all cores, no spin-waiting. With
 * ONNX Runtime's default spinning, the thread pools of the sessions not running at the moment
 * keep cores busy, and on a small machine the bare loop then decodes at about half the engine's
 * pace (seen on 2 cores: 124m fp32 21.8 tok/s bare against 36 through the engine).
 */
const BARE_SESSION_OPTIONS = {
  graphOptimizationLevel: 'all',
  intraOpNumThreads: defaultInferenceThreads(),
  interOpNumThreads: 1,
  extra: { session: { intra_op: { allow_spinning: '0' } } },
} as const;

export interface DecodeOptions {
  prompt: number;
  tokens: number;
  rounds: number;
}

export async function interleavedDecodeRates(variants: readonly Variant[], opts: DecodeOptions): Promise<number[]> {
  const sessions = [];
  for (const v of variants) sessions.push(await GptSession.fromFolder(v.dir, BARE_SESSION_OPTIONS, v.serveAs));
  const perRound = Math.max(1, Math.round(opts.tokens / opts.rounds));
  const seconds = variants.map(() => 0);
  const made = variants.map(() => 0);
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (let k = 0; k < sessions.length; k++) {
        const i = (k + round) % sessions.length;
        const s = sessions[i]!;
        const { vocab, context } = s.config;
        if (opts.prompt + perRound + 1 > context) throw new Error(`prompt ${opts.prompt} + ${perRound} tokens per round does not fit the context of ${context}`);
        const ids = Array.from({ length: opts.prompt }, (_, j) => (j * 7919 + round * 104729) % vocab);
        let { logits, state } = await s.step(ids, s.emptyState());
        ({ logits, state } = await s.step([argmax(logits.subarray(logits.length - vocab))], state));
        const start = performance.now();
        for (let t = 0; t < perRound; t++) {
          ({ logits, state } = await s.step([argmax(logits.subarray(logits.length - vocab))], state));
        }
        seconds[i]! += (performance.now() - start) / 1000;
        made[i]! += perRound;
      }
    }
  } finally {
    for (const s of sessions) await s.release();
  }
  return made.map((n, i) => n / seconds[i]!);
}

export interface StreamRates {
  one: number;
  many: number;
}

export async function interleavedStreamRates(variants: readonly Variant[], opts: { streams: number; tokens: number; rounds: number }): Promise<StreamRates[]> {
  const engines: InferenceEngine[] = [];
  try {
    for (const v of variants) engines.push(await InferenceEngine.start({ modelPath: v.dir, dtype: v.serveAs, maxBatchSize: Math.max(8, opts.streams) }));
    const run = async (engine: InferenceEngine, streams: number, round: number): Promise<[number, number]> => {
      const start = performance.now();
      const results = await Promise.all(
        Array.from({ length: streams }, (_, i) =>
          collect(engine.generate({ input: { prompt: `In the beginning ${round} ${i}` }, params: { maxTokens: opts.tokens, minTokens: opts.tokens, temperature: 0.8, seed: i } })),
        ),
      );
      return [results.reduce((sum, r) => sum + r.done.usage.completionTokens, 0), (performance.now() - start) / 1000];
    };
    for (const e of engines) await run(e, 1, -1); // warm-up
    const totals = variants.map(() => ({ oneTokens: 0, oneSeconds: 0, manyTokens: 0, manySeconds: 0 }));
    for (let round = 0; round < opts.rounds; round++) {
      for (let k = 0; k < engines.length; k++) {
        const i = (k + round) % engines.length;
        const t = totals[i]!;
        const [a, as] = await run(engines[i]!, 1, round);
        const [b, bs] = await run(engines[i]!, opts.streams, round);
        t.oneTokens += a;
        t.oneSeconds += as;
        t.manyTokens += b;
        t.manySeconds += bs;
      }
    }
    return totals.map((t) => ({ one: t.oneTokens / t.oneSeconds, many: t.manyTokens / t.manySeconds }));
  } finally {
    for (const e of engines) await e.close();
  }
}
