/**
 * `npm run bench:prefix [-- --size 124m --conversations 8 --turns 10 --words 40 --reply 24 --dtype fp32 --chunk 32]`:
 * - time to first token of turns 1, 5 and 10 of N concurrent multi-turn conversations, with the
 *   prefix cache off and on, one after the other in one run. Each turn sends the whole
 *   conversation again (system prompt, every earlier turn, the new question), as a chat client
 *   does;
 * - the inter-token latency of 4 running streams while prompts of ~1,000 tokens arrive, with
 *   prompts read whole and in chunks of --chunk tokens (PREFILL_CHUNK_TOKENS): p99 against the
 *   median before the first arrival. A running stream's gap between two tokens is one scheduler
 *   step (`onStep`): measured there rather than from text events, which a random model's
 *   partial UTF-8 tokens hold back.
 * On a random-weights preset (built once, as bench:model --dtype does). Not a test.
 */
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isPresetName, type PresetName } from '../model/presets.ts';
import { DEFAULT_BLOCK_SIZE } from '../model/quantize/index.ts';
import { InferenceEngine } from '../src/inference/engine.ts';
import type { ChatMessage } from '../src/inference/prompt.ts';
import type { ModelDtype } from '../src/inference/model-variants.ts';
import { collect } from '../test/support/collect.ts';
import { presetVariants, BENCH_DTYPES, type BenchDtype } from './dtypes/folders.ts';
import { percentile } from './report.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '124m' },
    dtype: { type: 'string', default: 'fp32' },
    conversations: { type: 'string', default: '8' },
    turns: { type: 'string', default: '10' },
    words: { type: 'string', default: '40' },
    reply: { type: 'string', default: '24' },
    chunk: { type: 'string', default: '32' },
    cache: { type: 'string', default: join(os.tmpdir(), 'gptql-bench-dtypes') },
  },
});
if (!isPresetName(values.size!)) throw new Error(`--size: unknown preset ${values.size}`);
if (!BENCH_DTYPES.includes(values.dtype as BenchDtype)) throw new Error(`--dtype: one of ${BENCH_DTYPES.join(', ')}`);
const conversations = Number(values.conversations);
const turns = Number(values.turns);
const reply = Number(values.reply);
const REPORTED = [1, Math.ceil(turns / 2), turns];

const WORDS = 'the river ran past old stones under a grey sky while seven birds answered each other about light water time and the long road home'.split(' ');
/** Turn `t` of conversation `c`: a question of `--words` words, different for every turn and conversation. */
const question = (c: number, t: number) => Array.from({ length: Number(values.words) }, (_, i) => WORDS[(c * 7 + t * 13 + i * 5) % WORDS.length]).join(' ') + '?';

interface TurnResult {
  turn: number;
  ttft: number;
  promptTokens: number;
  cachedTokens: number;
}

async function converse(engine: InferenceEngine, c: number): Promise<TurnResult[]> {
  const messages: ChatMessage[] = [{ role: 'system', content: 'You are a careful assistant who answers in plain words.' }];
  const results: TurnResult[] = [];
  for (let t = 1; t <= turns; t++) {
    messages.push({ role: 'user', content: question(c, t) });
    const { text, done } = await collect(engine.generate({ input: { messages: [...messages] }, params: { temperature: 0.8, seed: c * 100 + t, maxTokens: reply, minTokens: reply } }));
    messages.push({ role: 'assistant', content: text });
    results.push({ turn: t, ttft: done.timings.timeToFirstTokenSeconds, promptTokens: done.usage.promptTokens, cachedTokens: done.cachedPromptTokens });
  }
  return results;
}

async function run(dir: string, dtype: ModelDtype, prefixCacheBytes: number) {
  // Prompts read whole, as without the cache they always were: the comparison is the cache alone.
  const engine = await InferenceEngine.start({ modelPath: dir, dtype, maxBatchSize: conversations, prefixCacheBytes, prefillChunkTokens: 0 });
  try {
    if (engine.model.kvCache !== 'in-place') throw new Error(`${dir}: the prefix cache needs a graph with new_key_values.* outputs`);
    const start = performance.now();
    const all = (await Promise.all(Array.from({ length: conversations }, (_, c) => converse(engine, c)))).flat();
    return { all, seconds: (performance.now() - start) / 1000 };
  } finally {
    await engine.close();
  }
}

const [variant] = presetVariants(values.cache!, values.size as PresetName, [values.dtype as BenchDtype], DEFAULT_BLOCK_SIZE);
console.log(`${os.cpus()[0]?.model} × ${os.availableParallelism()}, node ${process.version}; ${values.size} ${values.dtype}, ${conversations} conversations × ${turns} turns, ${reply} reply tokens`);
const rows = [];
const runs: Record<string, Awaited<ReturnType<typeof run>>> = {};
for (const [label, bytes] of [['off', 0], ['on', 2 ** 30]] as const) {
  console.error(`prefix cache ${label}…`);
  runs[label] = await run(variant!.dir, variant!.serveAs, bytes);
}
const median = (xs: number[]) => percentile(xs, 50);
for (const turn of REPORTED) {
  const at = (label: string) => runs[label]!.all.filter((r) => r.turn === turn);
  const off = median(at('off').map((r) => r.ttft));
  const on = median(at('on').map((r) => r.ttft));
  rows.push({
    turn,
    'prompt tokens (median)': median(at('on').map((r) => r.promptTokens)),
    'cached tokens (median)': median(at('on').map((r) => r.cachedTokens)),
    'TTFT off (median s)': off.toFixed(3),
    'TTFT on (median s)': on.toFixed(3),
    'off / on': `${(off / on).toFixed(2)}×`,
  });
}
console.table(rows);
console.log(`\n| turn | prompt tokens | from the cache | TTFT, cache off | TTFT, cache on | off / on |\n| --- | --- | --- | --- | --- | --- |`);
for (const r of rows) console.log(`| ${r.turn} | ${r['prompt tokens (median)']} | ${r['cached tokens (median)']} | ${r['TTFT off (median s)']} s | ${r['TTFT on (median s)']} s | ${r['off / on']} |`);
console.log(`\nwhole run: cache off ${runs.off!.seconds.toFixed(1)} s, on ${runs.on!.seconds.toFixed(1)} s`);

/**
 * Gaps between tokens of 4 greedy streams (sampling from a random model's flat distribution
 * would add its own cost) decoding 300 tokens each, while 3 prompts of ~1,000 tokens
 * arrive one after another (each once the previous one has its first token): the median gap
 * before the first arrival (steady) and the p99 gap from then on; and the long prompts' own
 * median time to first token, which smaller chunks lengthen.
 */
async function interTokenLatency(dir: string, dtype: ModelDtype, prefillChunkTokens: number) {
  const steady: number[] = [];
  const longTtft: number[] = [];
  const during: number[] = [];
  let arriving = false;
  const engine = await InferenceEngine.start({
    modelPath: dir,
    dtype,
    maxBatchSize: 8,
    prefillChunkTokens,
    onStep: (stats) => {
      if (stats.batchSize > 0) (arriving ? during : steady).push(stats.stepSeconds);
    },
  });
  try {
    let arrivals: Promise<void> | undefined;
    const longPrompt = Array.from({ length: 1000 }, (_, i) => WORDS[(i * 11) % WORDS.length]).join(' ');
    const arrive = async () => {
      for (let i = 0; i < 3; i++) {
        const { done } = await collect(engine.generate({ input: { prompt: `${i} ${longPrompt}` }, params: { maxTokens: 4, minTokens: 4 } }));
        longTtft.push(done.timings.timeToFirstTokenSeconds);
      }
      arriving = false;
    };
    // The long prompts start arriving, one after another, once the streams have decoded steadily for a while.
    const timer = setTimeout(() => {
      arriving = true;
      arrivals = arrive();
    }, 2000);
    await Promise.all([0, 1, 2, 3].map((i) => collect(engine.generate({ input: { prompt: `stream ${i}` }, params: { temperature: 0, maxTokens: 400, minTokens: 400 } }))));
    clearTimeout(timer);
    await arrivals;
    return { steady: percentile(steady, 50), p99: percentile(during, 99), steps: during.length, longTtft: percentile(longTtft, 50) };
  } finally {
    await engine.close();
  }
}

const chunk = Number(values.chunk);
const itl = [];
const settings: [string, number][] = [
  ['whole', 0],
  [`chunks of ${chunk}`, chunk],
];
for (const [label, size] of settings) {
  console.error(`inter-token latency, prompts read ${label}…`);
  const r = await interTokenLatency(variant!.dir, variant!.serveAs, size);
  itl.push({
    prompts: label,
    'steps while they arrive': r.steps,
    'steady ITL (median s)': r.steady.toFixed(3),
    'ITL p99 during arrivals (s)': r.p99.toFixed(3),
    'p99 / steady': `${(r.p99 / r.steady).toFixed(2)}×`,
    'long prompt TTFT (median s)': r.longTtft.toFixed(2),
  });
}
console.table(itl);
console.log(`\n| long prompts read | steady ITL (median) | ITL p99 while they arrive | p99 / steady | long prompt TTFT (median) |\n| --- | --- | --- | --- | --- |`);
for (const r of itl) console.log(`| ${r.prompts} | ${r['steady ITL (median s)']} s | ${r['ITL p99 during arrivals (s)']} s | ${r['p99 / steady']} | ${r['long prompt TTFT (median s)']} s |`);
