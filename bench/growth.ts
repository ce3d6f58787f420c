/**
 * Whether memory samples level off. A leak grows with the work done, so under steady load it
 * shows as a trend that continues to the end; warm-up growth (caches filling, code optimised,
 * pools reaching size) stops. So the first half of the run is left out, and the trend of the
 * second is the Theil–Sen slope (the median of the slopes between every two samples): RSS
 * swings by tens of MiB from sample to sample with what the model's thread has allocated, and
 * a least-squares line follows one high sample at either end; the median does not.
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

function medianSlope(samples: readonly Sample[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const dt = samples[j]!.atMs - samples[i]!.atMs;
      if (dt > 0) slopes.push((samples[j]!.bytes - samples[i]!.bytes) / dt);
    }
  }
  slopes.sort((a, b) => a - b);
  const mid = slopes.length / 2;
  return slopes.length % 2 ? slopes[Math.floor(mid)]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
}

export function judgeGrowth(samples: readonly Sample[], maxBytesPerMinute: number): GrowthVerdict {
  if (samples.length < 6) throw new Error('at least 6 samples are needed to judge growth');
  const slopePerMinute = medianSlope(samples.slice(Math.floor(samples.length / 2))) * 60_000;
  return { slopePerMinute, levelsOff: slopePerMinute <= maxBytesPerMinute };
}
