import { describe, expect, it } from 'vitest';
import { judgeGrowth, type Sample } from './growth.ts';

const MiB = 2 ** 20;
/** One sample every 15 s for 10 minutes. */
const run = (bytesAt: (minute: number, i: number) => number): Sample[] =>
  Array.from({ length: 41 }, (_, i) => ({ atMs: i * 15_000, bytes: bytesAt((i * 15) / 60, i) }));
// Deterministic jitter of ±1.5 MiB, like GC leaving different amounts behind.
const jitter = (i: number) => (((i * 7919) % 13) - 6) * 0.25 * MiB;

describe('judgeGrowth', () => {
  it('passes memory that rises while warming up, then stays level', () => {
    const verdict = judgeGrowth(run((minute, i) => 60 * MiB + 20 * MiB * Math.min(1, minute / 3) + jitter(i)), 1 * MiB);
    expect(verdict.levelsOff).toBe(true);
    expect(Math.abs(verdict.slopePerMinute)).toBeLessThan(0.5 * MiB);
  });

  it('fails a slow leak that continues to the end, even under the noise', () => {
    const verdict = judgeGrowth(run((minute, i) => 60 * MiB + 2 * MiB * minute + jitter(i)), 1 * MiB);
    expect(verdict.levelsOff).toBe(false);
    expect(verdict.slopePerMinute).toBeGreaterThan(1.8 * MiB);
    expect(verdict.slopePerMinute).toBeLessThan(2.2 * MiB);
  });

  it('fails growth that starts only late in the run', () => {
    expect(judgeGrowth(run((minute) => 60 * MiB + (minute > 6 ? 3 * MiB * (minute - 6) : 0)), 1 * MiB).levelsOff).toBe(false);
  });

  it('is not moved by single high samples at the end of a level run', () => {
    const samples = run((_, i) => 500 * MiB + jitter(i) * 10);
    samples[samples.length - 1]!.bytes += 30 * MiB;
    samples[samples.length - 3]!.bytes += 30 * MiB;
    expect(judgeGrowth(samples, 4 * MiB).levelsOff).toBe(true);
  });

  it('refuses to judge too few samples', () => {
    expect(() => judgeGrowth(run(() => 0).slice(0, 5), 1 * MiB)).toThrow(/at least 6/);
  });
});
