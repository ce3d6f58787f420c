/**
 * `npm run soak [-- --users 20 --duration 600]`: the mixed load of `npm run load` for ten
 * minutes, sampling the server's heap and RSS (after a full collection) every 15 s. Fails
 * (exit 1) when either keeps growing through the second half of the run (growth.ts), when
 * Redis subscriptions or timers are left behind once the clients are gone, or when more than
 * 1% of operations fail.
 */
import { judgeGrowth, type Sample } from './growth.ts';
import { errorRateLine, loadArgs, loadHeading, loadTable, MAX_ERROR_RATE } from './load-report.ts';
import { startLoadTarget } from './load-target.ts';
import { LoadRecorder, runMixedLoad } from './mixed-load.ts';
import { mib, table } from './report.ts';
import type { MemorySample } from './server.ts';

const SAMPLE_EVERY_MS = 15_000;
const MiB = 2 ** 20;
// Limits on growth through the second half. RSS gets more room: it swings by tens of MiB between
// samples (the model's thread allocates per step, the allocator keeps pages), so only a larger,
// steady native leak shows in it; a JavaScript leak shows in the heap, which is steady to 1 MiB.
const MAX_HEAP_GROWTH_PER_MINUTE = 1 * MiB;
const MAX_RSS_GROWTH_PER_MINUTE = 6 * MiB;

const { users, seconds } = loadArgs(600, 120, 7200, ' (growth needs at least 6 samples per half)');

const target = await startLoadTarget(users);
const failures: string[] = [];
try {
  console.log(loadHeading(users, seconds));
  const baseline = await target.server.memory();
  const heap: Sample[] = [];
  const rss: Sample[] = [];
  const recorder = new LoadRecorder();
  const start = Date.now();
  const load = runMixedLoad({ url: target.server.url, accounts: target.accounts, durationMs: seconds * 1000 }, recorder);
  let loadDone = false;
  void load.finally(() => (loadDone = true));

  const progress: string[][] = [];
  while (!loadDone) {
    await Promise.race([load, new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS))]);
    if (loadDone) break;
    const sample = await target.server.memory();
    const atMs = Date.now() - start;
    heap.push({ atMs, bytes: sample.heapUsed });
    rss.push({ atMs, bytes: sample.rss });
    const row = [`${Math.round(atMs / 1000)} s`, mib(sample.heapUsed), mib(sample.rss), String(recorder.total), `${(recorder.errorRate * 100).toFixed(2)}%`];
    progress.push(row);
    console.log(`  ${row.join('  ')}`);
  }
  await load;

  console.log(`\n${table(['time', 'heap', 'RSS', 'operations', 'errors'], progress.filter((_, i) => i % 4 === 3 || i === progress.length - 1))}\n`);
  console.log(loadTable(recorder, seconds));

  const heapVerdict = judgeGrowth(heap, MAX_HEAP_GROWTH_PER_MINUTE);
  const rssVerdict = judgeGrowth(rss, MAX_RSS_GROWTH_PER_MINUTE);
  console.log(`\nheap: ${mib(baseline.heapUsed)} before, ${mib(heap.at(-1)!.bytes)} at the end; second-half trend ${mib(heapVerdict.slopePerMinute)}/min (limit ${mib(MAX_HEAP_GROWTH_PER_MINUTE)}/min)`);
  console.log(`RSS: ${mib(baseline.rss)} before, ${mib(rss.at(-1)!.bytes)} at the end; second-half trend ${mib(rssVerdict.slopePerMinute)}/min (limit ${mib(MAX_RSS_GROWTH_PER_MINUTE)}/min)`);
  if (!heapVerdict.levelsOff) failures.push('heap keeps growing');
  if (!rssVerdict.levelsOff) failures.push('RSS keeps growing');

  // The clients are gone: what they opened must be gone too.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const after: MemorySample = await target.server.memory();
  const channels = await target.clientChannels();
  const timers = (after.resources.Timeout ?? 0) - (baseline.resources.Timeout ?? 0);
  console.log(`after the clients left: ${channels.length} generation channels subscribed in Redis, timers ${baseline.resources.Timeout ?? 0} → ${after.resources.Timeout ?? 0}, sockets ${baseline.resources.TCPSocketWrap ?? 0} → ${after.resources.TCPSocketWrap ?? 0}`);
  if (channels.length > 0) failures.push(`Redis subscriptions left behind: ${channels.slice(0, 5).join(', ')}`);
  if (timers > 0) failures.push(`${timers} timers left behind`);
  console.log(errorRateLine(recorder));
  if (recorder.errorRate > MAX_ERROR_RATE) failures.push('error rate over the limit');
} finally {
  await target.stop();
}
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('PASS: memory levels off, nothing left behind');
