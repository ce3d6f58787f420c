/**
 * A memory read-bandwidth figure from Node, to frame decode speed: a batch-1 decode step reads
 * every weight once, so bytes per token × tokens per second cannot exceed what the cores can
 * stream from DRAM.
 *
 * What it measures: sequential reads of a Float64Array far larger than any L3 cache (512 MiB
 * by default), summed by a plain JavaScript loop, best of a few passes, by 1 thread and by one
 * worker thread per core over disjoint slices of one SharedArrayBuffer. A scalar JS loop is
 * slower than vectorised C, so on a machine with spare bandwidth the 1-thread figure is bounded
 * by the loop (about one element per cycle), not by DRAM; the all-cores figure is the closer
 * one to what ONNX Runtime's threads can draw.
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
const a = new Float64Array(workerData.buffer, workerData.offset, workerData.length);
parentPort.on('message', () => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  parentPort.postMessage(s);
});
`;

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

export async function measureReadBandwidth(opts: { mib?: number; passes?: number; threads?: number } = {}): Promise<Bandwidth> {
  const bytes = (opts.mib ?? 512) * 2 ** 20;
  const passes = opts.passes ?? 4;
  const threads = opts.threads ?? os.availableParallelism();
  const buffer = new SharedArrayBuffer(bytes);
  const all = new Float64Array(buffer);
  for (let i = 0; i < all.length; i += 512) all[i] = i; // touch every page so none is read as zeros for free

  let best = Infinity;
  sum(all); // warm-up: the JIT and the page tables
  for (let p = 0; p < passes; p++) {
    const start = performance.now();
    sum(all);
    best = Math.min(best, performance.now() - start);
  }
  const oneThreadGBps = bytes / (best / 1000) / 1e9;

  const per = Math.floor(all.length / threads);
  const workers = Array.from({ length: threads }, (_, i) => new Worker(WORKER, { eval: true, workerData: { buffer, offset: i * per * 8, length: per } }));
  const round = () => Promise.all(workers.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage(0); })));
  await round();
  let bestAll = Infinity;
  for (let p = 0; p < passes; p++) {
    const start = performance.now();
    await round();
    bestAll = Math.min(bestAll, performance.now() - start);
  }
  await Promise.all(workers.map((w) => w.terminate()));
  return { bytes, oneThreadGBps, threads, allThreadsGBps: (per * threads * 8) / (bestAll / 1000) / 1e9 };
}
