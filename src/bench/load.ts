/**
 * `npm run load [-- --users 20 --duration 60]`: the mixed workload (mixed-load.ts) against one
 * gptql process (api and worker roles, Redis-backed) on loopback, for a fixed count of virtual
 * users and a fixed time. Prints latency percentiles per operation and fails (exit 1) when more
 * than 1% of operations fail.
 */
import { parseArgs } from 'node:util';
import { loadTable } from './load-report.ts';
import { startLoadTarget } from './load-target.ts';
import { runMixedLoad } from './mixed-load.ts';
import { machineLine } from './report.ts';

const MAX_ERROR_RATE = 0.01;

const { values } = parseArgs({ options: { users: { type: 'string', default: '20' }, duration: { type: 'string', default: '60' } } });
const users = Number(values.users);
const seconds = Number(values.duration);
if (!(Number.isInteger(users) && users > 0 && users <= 500 && seconds > 0 && seconds <= 3600)) {
  console.error('--users takes 1 to 500 and --duration 1 to 3600 seconds');
  process.exit(2);
}

const target = await startLoadTarget(users);
let errorRate: number;
try {
  console.log(`\n${machineLine(`${users} virtual users, ${seconds} s, one gptql process (ROLE=all, Redis), default model`)}\n`);
  const recorder = await runMixedLoad({ url: target.server.url, accounts: target.accounts, durationMs: seconds * 1000 });
  errorRate = recorder.errorRate;
  console.log(loadTable(recorder, seconds));
  console.log(`\n${recorder.total} operations, error rate ${(errorRate * 100).toFixed(2)}% (limit ${MAX_ERROR_RATE * 100}%)`);
} finally {
  await target.stop();
}
if (errorRate > MAX_ERROR_RATE) {
  console.error('FAIL: error rate over the limit');
  process.exit(1);
}
