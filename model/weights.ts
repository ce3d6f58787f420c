import { elementCount, tensorShapes, type GptConfig } from './presets.ts';

/**
 * Where a model's tensors come from. Tensors are produced one at a time, on request, so that
 * a multi-gigabyte model can be written out without ever holding all of it in memory.
 */
export interface WeightSource {
  readonly config: GptConfig;
  /** Float32 data of one tensor under its GPT-2 name (see tensorShapes), in Conv1D orientation. */
  tensor(name: string): Float32Array;
}

/** A source that keeps what it produced: the reference forward pass reads each tensor many times. */
export function cached(source: WeightSource): WeightSource {
  const memo = new Map<string, Float32Array>();
  return {
    config: source.config,
    tensor(name) {
      let t = memo.get(name);
      if (!t) {
        t = source.tensor(name);
        memo.set(name, t);
      }
      return t;
    },
  };
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** mulberry32: tiny, fast and reproducible across platforms, which Math.random is not. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RandomInit {
  seed?: number;
  /** Standard deviation of matrices and embeddings; GPT-2 uses 0.02. */
  std?: number;
}

/**
 * Seeded random weights. Each tensor is seeded from its own name, so a tensor's values do not
 * depend on which others were asked for first. Biases and LayerNorm parameters get noise too
 * (not GPT-2's zeros and ones) so that tests exercise every parameter.
 */
export function randomWeights(config: GptConfig, init: RandomInit = {}): WeightSource {
  const seed = init.seed ?? 0;
  const std = init.std ?? 0.02;
  const shapes = tensorShapes(config);
  return {
    config,
    tensor(name) {
      const shape = shapes.get(name);
      if (!shape) throw new Error(`no tensor ${name} in this model`);
      const out = new Float32Array(elementCount(shape));
      const rand = seededRandom(hashString(name) ^ Math.imul(seed, 0x9e3779b1));
      const isNorm = /ln_\w+\.weight$/.test(name);
      const scale = shape.length === 1 ? std * 0.5 : std;
      for (let i = 0; i < out.length; i += 2) {
        // Box-Muller gives two normals per pair of uniforms.
        const r = Math.sqrt(-2 * Math.log(1 - rand()));
        const th = 2 * Math.PI * rand();
        out[i] = r * Math.cos(th) * scale + (isNorm ? 1 : 0);
        if (i + 1 < out.length) out[i + 1] = r * Math.sin(th) * scale + (isNorm ? 1 : 0);
      }
      return out;
    },
  };
}
