/**
 * What `model pull` shows: a byte progress bar over the whole pull on a terminal; elsewhere
 * (logs, CI) one line per file, so the output stays readable without carriage returns.
 */
import cliProgress from 'cli-progress';
import { formatBytes } from './errors.ts';
import type { PullEvents, PullPlan } from './pull.ts';

export interface PullReporter {
  events: PullEvents;
  /** Ends the bar; call on failure too, before printing the error. */
  stop(): void;
}

export function describePlan(plan: PullPlan): string {
  const at = plan.commit ? `${plan.revision} (${plan.commit.slice(0, 7)})` : plan.revision;
  const have = plan.haveBytes > 0 ? `, ${formatBytes(plan.haveBytes)} already here` : '';
  return `pulling ${plan.repo}@${at} ${plan.dtype}: ${plan.files.length} files, ${formatBytes(plan.totalBytes)}${have} → ${plan.out}`;
}

export function pullReporter(stream: NodeJS.WritableStream & { isTTY?: boolean }): PullReporter {
  const print = (line: string) => stream.write(`${line}\n`);
  if (!stream.isTTY) {
    return {
      events: {
        plan: (plan) => print(describePlan(plan)),
        fileDone: (file, result) => {
          const note = result.received === 0 ? ' (already here)' : result.resumedFrom > 0 ? ` (resumed at ${formatBytes(result.resumedFrom)})` : '';
          print(`  ${file.path}  ${formatBytes(result.size)}${note}`);
        },
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: '[{bar}] {percentage}% {done}/{total_size} {file}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let done = 0;
  let total = 0;
  let started = false;
  return {
    events: {
      plan: (plan) => {
        print(describePlan(plan));
        done = plan.haveBytes;
        total = plan.totalBytes;
        bar.start(total, done, { done: formatBytes(done), total_size: formatBytes(total), file: '' });
        started = true;
      },
      bytes: (delta, file) => {
        done += delta;
        bar.update(done, { done: formatBytes(done), file: file.path });
      },
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}
