import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { parameterCount, preset, type PresetName } from '../model/presets.ts';
import { cached, randomWeights } from '../model/weights.ts';
import { buildGptGraph, FLAVOURS, type Flavour } from '../model/onnx/gpt.ts';
import { argmax, GptSession } from '../model/session.ts';

/**
 * `npm run bench:model`: decode throughput of the two graph flavours, batch 1, fp32, random weights, on this
 * machine's CPU with ONNX Runtime's default session options. One run per cell: a quick
 * comparison, not a statistically careful one.
 *
 * `npm run bench:model -- --dtype [...]`: fp32, fp16 weights, int8 and q4 side by side instead
 * (bench/dtypes/main.ts, which lists its options).
 */
const SIZES: { name: PresetName; prompt: number; tokens: number }[] = [
  { name: '10m', prompt: 16, tokens: 200 },
  { name: 'small', prompt: 16, tokens: 128 },
  { name: '124m', prompt: 16, tokens: 64 },
];

async function decodeRate(name: PresetName, flavour: Flavour, weights: ReturnType<typeof cached>, prompt: number, tokens: number): Promise<number> {
  const c = preset(name);
  const s = await GptSession.fromBytes(buildGptGraph(weights, flavour).serialize({ dtype: 'fp32', weights: 'embed' }), c);
  const ids = Array.from({ length: prompt }, (_, i) => (i * 7919) % c.vocab);
  let { logits, state } = await s.step(ids, s.emptyState());
  ({ logits, state } = await s.step([argmax(logits.subarray(logits.length - c.vocab))], state)); // warm-up
  const start = performance.now();
  for (let i = 0; i < tokens; i++) {
    ({ logits, state } = await s.step([argmax(logits.subarray(logits.length - c.vocab))], state));
  }
  const seconds = (performance.now() - start) / 1000;
  await s.release();
  return tokens / seconds;
}

async function main(): Promise<void> {
  console.log(`decode tokens/s, batch 1, fp32, ${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'})`);
  const rows = [];
  for (const { name, prompt, tokens } of SIZES) {
    const weights = cached(randomWeights(preset(name)));
    const rate = {} as Record<Flavour, number>;
    for (const flavour of FLAVOURS) rate[flavour] = await decodeRate(name, flavour, weights, prompt, tokens);
    rows.push({
      preset: name,
      parameters: parameterCount(preset(name)).toLocaleString('en-US'),
      'portable tok/s': rate.portable.toFixed(1),
      'optimized tok/s': rate.optimized.toFixed(1),
      'optimized / portable': `${(rate.optimized / rate.portable).toFixed(2)}x`,
    });
  }
  console.table(rows);
}

if (process.argv.includes('--dtype')) {
  const { dtypeBench } = await import('./dtypes/main.ts');
  await dtypeBench(process.argv.slice(2));
} else {
  await main();
}
