/**
 * The command line of `npm run load` and `npm run soak`, and what they print of a mixed-load run:
 * per-operation counts, failures and latency percentiles, and the error rate against its limit.
 */
import { parseArgs } from 'node:util';
import { OPERATIONS, type LoadRecorder } from './mixed-load.ts';
import { machineLine, ms, percentile, table } from './report.ts';

/** More failed operations than this fails a load or soak run. */
export const MAX_ERROR_RATE = 0.01;

/** `--users` and `--duration` (seconds), checked against the run's bounds; exits 2 when outside. */
export function loadArgs(defaultSeconds: number, minSeconds: number, maxSeconds: number, why = ''): { users: number; seconds: number } {
  const { values } = parseArgs({ options: { users: { type: 'string', default: '20' }, duration: { type: 'string', default: String(defaultSeconds) } } });
  const users = Number(values.users);
  const seconds = Number(values.duration);
  if (!(Number.isInteger(users) && users > 0 && users <= 500 && seconds >= minSeconds && seconds <= maxSeconds)) {
    console.error(`--users takes 1 to 500 and --duration ${minSeconds} to ${maxSeconds} seconds${why}`);
    process.exit(2);
  }
  return { users, seconds };
}

export const loadHeading = (users: number, seconds: number) =>
  `\n${machineLine(`${users} virtual users, ${seconds} s, one gptql process (ROLE=all, Redis), default model`)}\n`;

export const errorRateLine = (recorder: LoadRecorder) =>
  `\n${recorder.total} operations, error rate ${(recorder.errorRate * 100).toFixed(2)}% (limit ${MAX_ERROR_RATE * 100}%)`;

export function loadTable(recorder: LoadRecorder, seconds: number): string {
  const rows = OPERATIONS.map((op) => {
    const latencies = recorder.latencies.get(op)!;
    const failures = [...recorder.failures.get(op)!].map(([reason, count]) => `${count} ${reason}`).join(', ');
    return [
      op,
      latencies.length + recorder.failed(op),
      ((latencies.length + recorder.failed(op)) / seconds).toFixed(1),
      failures || '0',
      ms(percentile(latencies, 50)),
      ms(percentile(latencies, 90)),
      ms(percentile(latencies, 99)),
      ms(percentile(latencies, 100)),
    ];
  });
  return table(['operation', 'count', 'per s', 'failed', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'], rows);
}
