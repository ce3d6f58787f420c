/**
 * A memory read-bandwidth figure from Node, to frame decode speed: a batch-1 decode step reads
 * every weight once, so bytes per token × tokens per second cannot go far past what the cores
 * can stream from DRAM.
 *
 * What it measures: a sequential scan of a buffer far larger than any L3 cache (512 MiB by
 * default) with `Buffer.indexOf` of a byte value that is not in it, which Node runs as libc's
 * memchr (vectorised, so DRAM rather than the loop sets the pace); best of a few passes, by the
 * main thread alone and by one worker thread per core over disjoint slices of one
 * SharedArrayBuffer. For comparison, a plain JavaScript `sum += a[i]` loop over a Float64Array
 * is bound by its chain of dependent float adds and reads several times slower (≈9.5 GB/s
 * against memchr's ≈28 GB/s on the 2-core dev machine), so it would understate the bus.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

export interface Bandwidth {
  bytes: number;
  oneThreadGBps: number;
  threads: number;
  allThreadsGBps: number;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const slice = Buffer.from(workerData.buffer, workerData.offset, workerData.length);
parentPort.on('message', () => parentPort.postMessage(slice.indexOf(1)));
`;

export async function measureReadBandwidth(opts: { mib?: number; passes?: number; threads?: number } = {}): Promise<Bandwidth> {
  const bytes = (opts.mib ?? 512) * 2 ** 20;
  const passes = opts.passes ?? 4;
  const threads = opts.threads ?? os.availableParallelism();
  const buffer = new SharedArrayBuffer(bytes);
  const all = Buffer.from(buffer);
  for (let i = 0; i < bytes; i += 4096) all[i] = 0; // touch every page: untouched pages would all map the one zero page
  if (all.indexOf(1) !== -1) throw new Error('unreachable');

  let best = Infinity;
  for (let p = 0; p < passes; p++) {
    const start = performance.now();
    all.indexOf(1);
    best = Math.min(best, performance.now() - start);
  }
  const oneThreadGBps = bytes / (best / 1000) / 1e9;

  const per = Math.floor(bytes / threads);
  const workers = Array.from({ length: threads }, (_, i) => new Worker(WORKER, { eval: true, workerData: { buffer, offset: i * per, length: per } }));
  const round = () =>
    Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => {
            w.once('message', resolve);
            w.postMessage(0);
          }),
      ),
    );
  await round();
  let bestAll = Infinity;
  for (let p = 0; p < passes; p++) {
    const start = performance.now();
    await round();
    bestAll = Math.min(bestAll, performance.now() - start);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return { bytes, oneThreadGBps, threads, allThreadsGBps: (per * threads) / (bestAll / 1000) / 1e9 };
}
