/**
 * `npm run load [-- --users 20 --duration 60]`: the mixed workload (mixed-load.ts) against one
 * gptql process (api and worker roles, Redis-backed) on loopback, for a fixed count of virtual
 * users and a fixed time. Prints latency percentiles per operation and fails (exit 1) when more
 * than 1% of operations fail.
 */
import { errorRateLine, loadArgs, loadHeading, loadTable, MAX_ERROR_RATE } from './load-report.ts';
import { startLoadTarget } from './load-target.ts';
import { runMixedLoad } from './mixed-load.ts';

const { users, seconds } = loadArgs(60, 1, 3600);

const target = await startLoadTarget(users);
let errorRate: number;
try {
  console.log(loadHeading(users, seconds));
  const recorder = await runMixedLoad({ url: target.server.url, accounts: target.accounts, durationMs: seconds * 1000 });
  errorRate = recorder.errorRate;
  console.log(loadTable(recorder, seconds));
  console.log(errorRateLine(recorder));
} finally {
  await target.stop();
}
if (errorRate > MAX_ERROR_RATE) {
  console.error('FAIL: error rate over the limit');
  process.exit(1);
}
