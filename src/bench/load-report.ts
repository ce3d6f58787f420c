/** Prints what a mixed-load run recorded: per-operation counts, failures and latency percentiles. */
import { OPERATIONS, type LoadRecorder } from './mixed-load.ts';
import { ms, percentile, table } from './report.ts';

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
