/**
 * `npm run bench:model -- --dtype [--sizes 124m,355m,default] [--dtypes fp32,fp16,int8,q4]
 *   [--tokens N] [--rounds R] [--streams S] [--stream-tokens N] [--ppl-tokens N|all|0]
 *   [--block-size 128] [--cache DIR]`
 *
 * fp32, fp16-stored weights, int8 and q4 side by side in one run, on presets with random
 * weights and on the shipped default model: batch-1 decode tokens/s, the weight bytes a decode
 * step reads and the bandwidth that implies, a memory read-bandwidth figure taken in the same
 * run, aggregate tokens/s of S concurrent streams against one through the engine, and the
 * default model's perplexity on its held-out validation chapters. One run; not a test.
 */
import os from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIR } from '../../model/default-dir.ts';
import { isPresetName } from '../../model/presets.ts';
import { DEFAULT_BLOCK_SIZE } from '../../model/quantize/index.ts';
import { folderPerplexity, type PerplexityResult } from '../../model/perplexity.ts';
import { BENCH_DTYPES, defaultVariants, presetVariants, type BenchDtype, type Variant } from './folders.ts';
import { decodeWeightBytesOfFile } from './weight-bytes.ts';
import { measureReadBandwidth, type Bandwidth } from './memory-bandwidth.ts';
import { interleavedDecodeRates, interleavedStreamRates, type StreamRates } from './decode.ts';
import { batchedMarkdown, decodeMarkdown, type DecodeRow } from './report.ts';

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

export async function dtypeBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dtype: { type: 'boolean' },
      sizes: { type: 'string', default: '124m,355m,default' },
      dtypes: { type: 'string', default: BENCH_DTYPES.join(',') },
      tokens: { type: 'string', default: '128' },
      rounds: { type: 'string', default: '4' },
      streams: { type: 'string', default: '8' },
      'stream-tokens': { type: 'string', default: '32' },
      'stream-rounds': { type: 'string', default: '2' },
      'ppl-tokens': { type: 'string', default: 'all' },
      'block-size': { type: 'string', default: String(DEFAULT_BLOCK_SIZE) },
      'bandwidth-mib': { type: 'string', default: '512' },
      cache: { type: 'string', default: join(os.tmpdir(), 'gptql-bench-dtypes') },
    },
  });
  const sizes = list(values.sizes);
  for (const s of sizes) if (s !== 'default' && !isPresetName(s)) throw new Error(`--sizes: unknown preset ${s}`);
  const dtypes = list(values.dtypes) as BenchDtype[];
  for (const d of dtypes) if (!BENCH_DTYPES.includes(d)) throw new Error(`--dtypes: ${d} is not one of ${BENCH_DTYPES.join(', ')}`);
  const ordered = BENCH_DTYPES.filter((d) => dtypes.includes(d));
  const tokens = Number(values.tokens);
  const rounds = Number(values.rounds);
  const streams = Number(values.streams);
  const blockSize = Number(values['block-size']);

  console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.availableParallelism()}, node ${process.version}; folders cached in ${values.cache}`);
  const bandwidth: Bandwidth = await measureReadBandwidth({ mib: Number(values['bandwidth-mib']) });
  console.log(
    `memory read bandwidth (Buffer.indexOf scan of ${values['bandwidth-mib']} MiB): 1 thread ${bandwidth.oneThreadGBps.toFixed(1)} GB/s, ` +
      `${bandwidth.threads} threads ${bandwidth.allThreadsGBps.toFixed(1)} GB/s`,
  );

  const decodeRows: DecodeRow[] = [];
  const batched: { variant: Variant; rates: StreamRates }[] = [];
  for (const size of sizes) {
    const variants = size === 'default' ? defaultVariants(values.cache, DEFAULT_MODEL_DIR, ordered, blockSize) : presetVariants(values.cache, size as never, ordered, blockSize);
    console.error(`${size}: batch-1 decode, ${variants.map((v) => v.dtype).join(', ')} in alternation…`);
    const rates = await interleavedDecodeRates(variants, { prompt: 16, tokens, rounds });
    let perplexities: (PerplexityResult | undefined)[] = variants.map(() => undefined);
    if (size === 'default' && values['ppl-tokens'] !== '0') {
      const text = readFileSync(join(DEFAULT_MODEL_DIR, 'validation.txt'), 'utf8');
      const maxTokens = values['ppl-tokens'] === 'all' ? undefined : Number(values['ppl-tokens']);
      perplexities = [];
      for (const v of variants) {
        console.error(`default: perplexity of ${v.dtype}…`);
        perplexities.push(await folderPerplexity(v.dir, text, { dtype: v.serveAs, maxTokens }));
      }
    }
    variants.forEach((v, i) => {
      decodeRows.push({ variant: v, weightBytes: decodeWeightBytesOfFile(v.file).perToken, tokensPerSecond: rates[i]!, perplexity: perplexities[i] });
    });
    const forStreams = variants.filter((v) => v.dtype !== 'fp16');
    if (streams > 1 && forStreams.length > 0) {
      console.error(`${size}: 1 vs ${streams} streams through the engine, ${forStreams.map((v) => v.dtype).join(', ')}…`);
      const r = await interleavedStreamRates(forStreams, { streams, tokens: Number(values['stream-tokens']), rounds: Number(values['stream-rounds']) });
      forStreams.forEach((v, i) => batched.push({ variant: v, rates: r[i]! }));
    }
  }

  const when = `${os.cpus()[0]?.model} × ${os.availableParallelism()}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;
  const decode = decodeMarkdown(decodeRows, bandwidth);
  console.table(decode.table);
  console.log(`\n${when}; memory read bandwidth ${bandwidth.allThreadsGBps.toFixed(1)} GB/s (${bandwidth.threads} threads), ${bandwidth.oneThreadGBps.toFixed(1)} GB/s (1 thread)\n`);
  console.log(decode.markdown);
  const ppl = decodeRows.find((r) => r.perplexity)?.perplexity;
  if (ppl) console.log(`\nperplexity: model/default/validation.txt, ${ppl.tokens} tokens, windows of ${ppl.context} tokens every ${ppl.stride} (model/perplexity.ts)`);
  console.log(
    '\nweights read / token: initializers read by anything but Gather, at their size when the graph runs (float16 cast to float32 at load counts 4 bytes); ' +
      'embedding rows gathered and the KV cache are left out (bench/dtypes/weight-bytes.ts). implied GB/s = that × decode tok/s; ' +
      '"of measured bandwidth" divides it by the better of the two read-bandwidth figures above.',
  );
  if (batched.length > 0) {
    const b = batchedMarkdown(batched, streams);
    console.table(b.table);
    console.log(`\n${b.markdown}`);
  }
}
