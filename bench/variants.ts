/**
 * `npm run bench:variants -- --model DIR [--tokens N]`: what each variant of one model folder
 * (fp32, fp16, int8, q4…) costs to serve through the engine: load time, peak memory, prompt
 * processing, decode speed alone and with 4 streams. Each variant runs in a fresh process so
 * that peak RSS is its own. One run, side by side; not a test.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { InferenceEngine } from '../src/inference/engine.ts';
import { availableVariants, type ModelDtype } from '../src/inference/model-variants.ts';
import { collect } from '../test/support/collect.ts';

interface Figures {
  dtype: ModelDtype;
  loadSeconds: number;
  peakRssMiB: number;
  promptTokens: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  fourStreamsTokensPerSecond: number;
}

const LONG_PROMPT = 'The licensee may copy and distribute the Program in object code or executable form, provided that the source is offered too. '.repeat(12);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, (performance.now() - start) / 1000];
}

/** Measures one variant in this process and prints its figures as JSON. */
async function measure(dir: string, dtype: ModelDtype, tokens: number): Promise<Figures> {
  const [engine, loadSeconds] = await timed(() => InferenceEngine.start({ modelPath: dir, dtype, maxBatchSize: 8 }));
  const run = (prompt: string, n: number, seed = 0) =>
    collect(engine.generate({ input: { prompt }, params: { maxTokens: n, minTokens: n, temperature: 0.8, seed } }));
  await run('Warm up', 4);
  const [prefill, prefillSeconds] = await timed(() => run(LONG_PROMPT, 1));
  // Decode rate = (N − 1) / (time for N − time for 1): prompt processing counts for nothing.
  const [, one] = await timed(() => run('In the beginning', 1));
  const [, many] = await timed(() => run('In the beginning', tokens));
  const [results, fourSeconds] = await timed(() => Promise.all([0, 1, 2, 3].map((i) => run(`Stream ${i} begins`, tokens, i))));
  await engine.close();
  return {
    dtype,
    loadSeconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    promptTokens: prefill.done.usage.promptTokens,
    prefillTokensPerSecond: prefill.done.usage.promptTokens / prefillSeconds,
    decodeTokensPerSecond: (tokens - 1) / (many - one),
    fourStreamsTokensPerSecond: results.reduce((sum, r) => sum + r.done.usage.completionTokens, 0) / fourSeconds,
  };
}

async function main() {
  const { values } = parseArgs({ options: { model: { type: 'string' }, tokens: { type: 'string', default: '64' }, one: { type: 'string' } } });
  if (!values.model) throw new Error('usage: npm run bench:variants -- --model DIR [--tokens N]');
  const tokens = Number(values.tokens);
  if (values.one) {
    console.log(JSON.stringify(await measure(values.model, values.one as ModelDtype, tokens)));
    return;
  }
  const rows: Figures[] = [];
  for (const dtype of availableVariants(values.model)) {
    const out = execFileSync(process.execPath, [...process.execArgv, import.meta.filename, '--model', values.model, '--tokens', String(tokens), '--one', dtype], { encoding: 'utf8' });
    rows.push(JSON.parse(out.trim().split('\n').at(-1)!) as Figures);
    console.error(`measured ${dtype}`);
  }
  const f = (n: number, digits = 1) => n.toFixed(digits);
  const base = rows[0]!;
  console.log(`\n${values.model} on ${os.cpus()[0]?.model} × ${os.availableParallelism()}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`);
  console.log(`| variant | load s | peak RSS MiB | prompt tok/s (${base.promptTokens} tokens) | decode tok/s | vs ${base.dtype} | 4 streams tok/s |`);
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.dtype} | ${f(r.loadSeconds, 2)} | ${f(r.peakRssMiB, 0)} | ${f(r.prefillTokensPerSecond, 0)} | ${f(r.decodeTokensPerSecond)} | ${f(r.decodeTokensPerSecond / base.decodeTokensPerSecond, 2)}× | ${f(r.fourStreamsTokensPerSecond)} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
