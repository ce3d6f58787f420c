/**
 * Rotary position tables. The graph looks up cos/sin rows by position_ids, so the frequencies
 * are computed here once, in the precision transformers uses: inverse frequencies in float32
 * (torch computes them from a float32 arange), angles as the float32 product position × inv_freq
 * (its `inv_freq @ position_ids` in float32), cos and sin of that angle rounded to float32.
 */
import type { LlamaFamilyConfig, RopeScaling } from './config.ts';

const f32 = Math.fround;

/** Plain RoPE: 1 / theta^(2i/dim) for i < dim/2. */
export function defaultInverseFrequencies(theta: number, dim: number): Float32Array {
  return Float32Array.from({ length: dim / 2 }, (_, i) => f32(1 / f32(theta ** f32((2 * i) / dim))));
}

/**
 * Llama 3.1's scaling, as documented for transformers' `_compute_llama3_parameters`: with
 * wavelength 2π/f, frequencies whose wavelength is shorter than original/high_freq_factor are
 * kept, those longer than original/low_freq_factor are divided by `factor`, and those between
 * are blended: s = (original/wavelength − low) / (high − low), f' = (1 − s)·f/factor + s·f.
 * Its attention scaling is 1, so cos/sin are not rescaled.
 */
export function llama3InverseFrequencies(base: Float32Array, s: Extract<RopeScaling, { type: 'llama3' }>): Float32Array {
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return base.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

export function inverseFrequencies(c: Pick<LlamaFamilyConfig, 'ropeTheta' | 'rotaryDim' | 'rope'>): Float32Array {
  const base = defaultInverseFrequencies(c.ropeTheta, c.rotaryDim);
  return c.rope.type === 'llama3' ? llama3InverseFrequencies(base, c.rope) : base;
}

/** cos and sin tables [positions, rotaryDim/2], row p for position p. */
export function rotaryTables(invFreq: Float32Array, positions: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(p * invFreq[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
