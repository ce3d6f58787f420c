/**
 * Whether memory samples level off. A leak grows with the work done, so under steady load it
 * shows as a trend that continues to the end; warm-up growth (caches filling, code optimised,
 * pools reaching size) stops. So the first half of the run is left out and a least-squares
 * line is fitted to the second: its slope must stay under the limit.
 */
export interface Sample {
  /** Milliseconds since the run began. */
  atMs: number;
  bytes: number;
}

export interface GrowthVerdict {
  /** Growth over the second half, in bytes per minute. */
  slopePerMinute: number;
  levelsOff: boolean;
}

function slope(samples: readonly Sample[]): number {
  const n = samples.length;
  const meanX = samples.reduce((s, p) => s + p.atMs, 0) / n;
  const meanY = samples.reduce((s, p) => s + p.bytes, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const p of samples) {
    covariance += (p.atMs - meanX) * (p.bytes - meanY);
    variance += (p.atMs - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

export function judgeGrowth(samples: readonly Sample[], maxBytesPerMinute: number): GrowthVerdict {
  if (samples.length < 6) throw new Error('at least 6 samples are needed to judge growth');
  const secondHalf = samples.slice(Math.floor(samples.length / 2));
  const slopePerMinute = slope(secondHalf) * 60_000;
  return { slopePerMinute, levelsOff: slopePerMinute <= maxBytesPerMinute };
}
