import { headDim, LAYER_NORM_EPSILON } from './presets.ts';
import type { WeightSource } from './weights.ts';

/*
 * The architecture written out plainly, one loop per formula, as the oracle that the ONNX
 * graphs are tested against. It is deliberately not shared with the graph builder: two
 * independent writings of the same maths are what make the comparison mean something.
 * Single sequence, no cache, float64 accumulation; fine for the tiny test presets only.
 */

type Rows = Float64Array[];

function linear(x: Rows, w: Float32Array, b: Float32Array, nIn: number, nOut: number): Rows {
  return x.map((row) => {
    const out = Float64Array.from(b);
    for (let i = 0; i < nIn; i++) {
      const xi = row[i]!;
      const base = i * nOut;
      for (let j = 0; j < nOut; j++) out[j]! += xi * w[base + j]!;
    }
    return out;
  });
}

function layerNorm(x: Rows, g: Float32Array, b: Float32Array): Rows {
  return x.map((row) => {
    const n = row.length;
    const mean = row.reduce((a, v) => a + v, 0) / n;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    const inv = 1 / Math.sqrt(variance + LAYER_NORM_EPSILON);
    return row.map((v, i) => (v - mean) * inv * g[i]! + b[i]!);
  });
}

/** GPT-2's "gelu_new": the tanh approximation. */
function gelu(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

/** Logits for every position of `ids` (positions 0..n-1), as rows of length vocab. */
export function referenceForward(weights: WeightSource, ids: readonly number[]): Float64Array[] {
  const c = weights.config;
  const d = c.width;
  const hd = headDim(c);
  const t = (name: string): Float32Array => weights.tensor(name);
  const wte = t('wte.weight');
  const wpe = t('wpe.weight');
  const n = ids.length;

  let x: Rows = ids.map((id, p) => {
    const row = new Float64Array(d);
    for (let i = 0; i < d; i++) row[i] = wte[id * d + i]! + wpe[p * d + i]!;
    return row;
  });

  for (let l = 0; l < c.layers; l++) {
    const p = `h.${l}.`;
    const h = layerNorm(x, t(`${p}ln_1.weight`), t(`${p}ln_1.bias`));
    const qkv = linear(h, t(`${p}attn.c_attn.weight`), t(`${p}attn.c_attn.bias`), d, 3 * d);
    const ctx: Rows = Array.from({ length: n }, () => new Float64Array(d));
    for (let head = 0; head < c.heads; head++) {
      const q0 = head * hd;
      const k0 = d + head * hd;
      const v0 = 2 * d + head * hd;
      for (let i = 0; i < n; i++) {
        // Causal: position i sees positions 0..i.
        const scores = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += qkv[i]![q0 + e]! * qkv[j]![k0 + e]!;
          scores[j] = s / Math.sqrt(hd);
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += scores[j] = Math.exp(scores[j]! - max);
        for (let j = 0; j <= i; j++) {
          const pj = scores[j]! / sum;
          for (let e = 0; e < hd; e++) ctx[i]![q0 + e]! += pj * qkv[j]![v0 + e]!;
        }
      }
    }
    const attn = linear(ctx, t(`${p}attn.c_proj.weight`), t(`${p}attn.c_proj.bias`), d, d);
    x = x.map((row, i) => row.map((v, k) => v + attn[i]![k]!));

    const h2 = layerNorm(x, t(`${p}ln_2.weight`), t(`${p}ln_2.bias`));
    const fc = linear(h2, t(`${p}mlp.c_fc.weight`), t(`${p}mlp.c_fc.bias`), d, 4 * d).map((row) => row.map(gelu));
    const mlp = linear(fc, t(`${p}mlp.c_proj.weight`), t(`${p}mlp.c_proj.bias`), 4 * d, d);
    x = x.map((row, i) => row.map((v, k) => v + mlp[i]![k]!));
  }

  const hf = layerNorm(x, t('ln_f.weight'), t('ln_f.bias'));
  // Tied LM head: logits = h · wteᵀ.
  return hf.map((row) => {
    const out = new Float64Array(c.vocab);
    for (let v = 0; v < c.vocab; v++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += row[i]! * wte[v * d + i]!;
      out[v] = s;
    }
    return out;
  });
}
