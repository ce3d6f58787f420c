/**
 * `npm run bench:inference`: decode speed of the engine against a bare session.run loop and
 * against @huggingface/transformers on the same folder, aggregate throughput with 1, 4, 8
 * and 16 concurrent streams, and (124m) decoding at long contexts: 1 and 8 streams with 8- and
 * 700-token prompts, and one stream at 1,000 tokens of the 1,024-token context. One run,
 * figures and ratios side by side; not a test.
 *
 * Decode rate = (N − 1) / (time for N new tokens − time for 1 new token): the same formula for
 * every contender, so that prompt processing and start-up cost count for none of them. The bare
 * loop's session has the engine's options (ONNX Runtime threads sleep between operators, as
 * INFERENCE_SPIN_WAIT=false), so that the ratio is the engine's own cost per step.
 *
 * Long contexts: decode tok/s = streams / the median time of the engine's steps in which every
 * stream decodes (read through `onStep`): the steps in which some stream's prompt is still being
 * read are not decode steps, and with streams arriving together they would otherwise count.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env, type Tensor } from '@huggingface/transformers';
import { DEFAULT_MODEL_DIR, GptSession, argmax, preset, randomWeights, writeModelFolder } from '../model/index.ts';
import { InferenceEngine } from '../src/inference/engine.ts';
import { createSession } from '../src/inference/ort-session.ts';
import type { StepStats } from '../src/inference/protocol.ts';
import { readModelFolder, textCodec } from '../src/inference/model-folder.ts';
import { collect } from '../test/support/collect.ts';

const PROMPT = 'In the beginning God created the heavens and the earth.';

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, (performance.now() - start) / 1000];
}

/** Decode tokens/s from two runs of `generate(n)` that return how many tokens they made. */
async function decodeRate(generate: (n: number) => Promise<number>, n: number): Promise<number> {
  await generate(4); // warm-up
  const [, one] = await timed(() => generate(1));
  const [made, many] = await timed(() => generate(n));
  return (made - 1) / (many - one);
}

async function benchFolder(label: string, dir: string, newTokens: number) {
  const codec = textCodec(readModelFolder(dir).tokenizer);
  const promptIds = codec.encode(PROMPT);

  const steps: StepStats[] = [];
  const engine = await InferenceEngine.start({ modelPath: dir, maxBatchSize: 16, maxQueuedRequests: 64, onStep: (stats) => steps.push(stats) });
  const engineRun = async (n: number) =>
    (await collect(engine.generate({ input: { prompt: PROMPT }, params: { maxTokens: n, temperature: 0 } }))).done.usage.completionTokens;
  const engineRate = await decodeRate(engineRun, newTokens);

  const bare = GptSession.fromSession(await createSession(`${dir}/onnx/model.onnx`, { device: 'cpu', intraOpThreads: 0 }), dir);
  const bareRate = await decodeRate(async (n) => (await bare.generate(promptIds, n, argmax)).length, newTokens);
  await bare.release();

  env.localModelPath = path.dirname(dir);
  env.allowRemoteModels = false;
  const name = path.basename(dir);
  const tokenizer = await AutoTokenizer.from_pretrained(name);
  const hf = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32' });
  const { input_ids } = tokenizer(PROMPT) as { input_ids: Tensor };
  const hfRate = await decodeRate(async (n) => {
    const out = (await hf.generate({ input_ids, max_new_tokens: n, min_new_tokens: n, do_sample: false })) as Tensor;
    return out.dims[1]! - input_ids.dims[1]!;
  }, newTokens);
  await hf.dispose();

  const aggregate: { streams: number; tokensPerSecond: number }[] = [];
  for (const streams of [1, 4, 8, 16]) {
    const [results, seconds] = await timed(() =>
      Promise.all(
        Array.from({ length: streams }, (_, i) =>
          collect(engine.generate({ input: { prompt: `${PROMPT} ${i}` }, params: { maxTokens: newTokens, seed: i } })),
        ),
      ),
    );
    const tokens = results.reduce((sum, r) => sum + r.done.usage.completionTokens, 0);
    aggregate.push({ streams, tokensPerSecond: tokens / seconds });
  }
  const contexts = label.startsWith('124m') ? await longContexts(engine, codec, steps) : [];
  await engine.close();
  return { label, engineRate, bareRate, hfRate, aggregate, contexts };
}

/**
 * Decode tokens/s, prefill excluded, of `streams` concurrent streams with prompts of about
 * `promptTokens` tokens, `newTokens` each: streams / the median step in which all of them decode.
 */
async function contextRate(engine: InferenceEngine, codec: Codec, steps: StepStats[], streams: number, promptTokens: number, newTokens: number) {
  const words = 'the river ran past old stones under a grey sky while birds answered'.split(' ');
  // Text of about `promptTokens` tokens: many words, cut at that many tokens.
  const prompt = (i: number) => codec.decode(codec.encode(Array.from({ length: promptTokens }, (_, j) => words[(i + j * 7) % words.length]).join(' ')).slice(0, promptTokens));
  steps.length = 0;
  const results = await Promise.all(
    Array.from({ length: streams }, (_, i) =>
      collect(engine.generate({ input: { prompt: prompt(i) }, params: { maxTokens: newTokens, minTokens: newTokens, seed: i } })),
    ),
  );
  return {
    promptTokens: Math.round(results.reduce((sum, r) => sum + r.done.usage.promptTokens, 0) / streams),
    tokensPerSecond: streams / median(steps.filter((step) => step.batchSize === streams).map((step) => step.stepSeconds)),
  };
}

type Codec = ReturnType<typeof textCodec>;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function longContexts(engine: InferenceEngine, codec: Codec, steps: StepStats[]) {
  const rows: { streams: number; target: number; promptTokens: number; tokensPerSecond: number }[] = [];
  for (const [streams, target, newTokens] of [[1, 8, 48], [8, 8, 48], [1, 700, 48], [8, 700, 48], [1, 1000, 16]] as const) {
    rows.push({ streams, target, ...(await contextRate(engine, codec, steps, streams, target, newTokens)) });
  }
  return rows;
}

function print(results: Awaited<ReturnType<typeof benchFolder>>[]) {
  const f = (n: number) => n.toFixed(1);
  console.log(`\nmachine: ${os.cpus()[0]?.model} × ${os.availableParallelism()}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log('| model | engine tok/s | bare session.run tok/s | engine / bare | transformers.js tok/s | engine / transformers.js |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(`| ${r.label} | ${f(r.engineRate)} | ${f(r.bareRate)} | ${(r.engineRate / r.bareRate).toFixed(2)}× | ${f(r.hfRate)} | ${(r.engineRate / r.hfRate).toFixed(2)}× |`);
  }
  console.log('\n| model | 1 stream tok/s | 4 streams | 8 streams | 16 streams | 8 streams / 1 stream |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of results) {
    const at = (n: number) => r.aggregate.find((a) => a.streams === n)!.tokensPerSecond;
    console.log(`| ${r.label} | ${f(at(1))} | ${f(at(4))} | ${f(at(8))} | ${f(at(16))} | ${(at(8) / at(1)).toFixed(2)}× |`);
  }
  for (const r of results.filter((x) => x.contexts.length > 0)) {
    const rate = (streams: number, target: number) => r.contexts.find((c) => c.streams === streams && c.target === target)!.tokensPerSecond;
    console.log(`\n${r.label}, decode tok/s with prompts of ~N tokens, prefill excluded:\n`);
    console.log('| streams | prompt tokens | decode tok/s (all streams) |');
    console.log('| --- | --- | --- |');
    for (const c of r.contexts) console.log(`| ${c.streams} | ${c.promptTokens} | ${f(c.tokensPerSecond)} |`);
    console.log(
      `\n8 streams at 700 / 1 stream at 700: ${(rate(8, 700) / rate(1, 700)).toFixed(2)}× (goal ≥ 5×); ` +
        `8 streams at 700 / 8 streams short: ${(rate(8, 700) / rate(8, 8)).toFixed(2)}× (goal ≥ 0.5×); ` +
        `1 stream at 700 / 1 stream short: ${(rate(1, 700) / rate(1, 8)).toFixed(2)}× (goal ≥ 0.8×)`,
    );
  }
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-bench-'));
try {
  const results = [await benchFolder('default (10m, trained)', DEFAULT_MODEL_DIR, 128)];
  if (!process.argv.includes('--quick')) {
    const dir = path.join(root, '124m');
    console.log('building 124m with random weights…');
    writeModelFolder(dir, randomWeights(preset('124m'), { seed: 1 }), { flavour: 'optimized', dtype: 'fp32' });
    results.push(await benchFolder('124m (random weights)', dir, 64));
  }
  print(results);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}
