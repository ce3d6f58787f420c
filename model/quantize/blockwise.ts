/**
 * Block quantization of a weight matrix into the layout of ONNX Runtime's contrib operator
 * `com.microsoft.MatMulNBits` (docs/ContribOperators.md, "com.microsoft.MatMulNBits"):
 *
 *   Y = A × dequant(B)ᵀ, where B is [N, K] cut along K into blocks of `block_size`
 *   B            uint8 [N, n_blocks, block_size * bits / 8]: codes packed along K, low bits first
 *                (for 4 bits: element 2i in the low nibble of byte i, 2i+1 in the high nibble)
 *   scales       float [N, n_blocks] (the spec allows [N * n_blocks] too; ORT's tool writes 2-D)
 *   zero_points  optional; when absent every block's zero point is 2^(bits-1) (8 for 4 bits)
 *   dequant(q) = (q − zero_point) × scale
 *
 * The symmetric scale rule is the one ONNX Runtime's own quantizer (matmul_nbits_quantizer.py →
 * MlasQuantizeBlockwise, `range2scale` in onnxruntime/core/mlas/lib/q4_dq.cpp) uses, so that our
 * files match the ones it makes bit for bit: the element of largest magnitude m (the negative one
 * on a tie) maps to code 0, i.e. scale = −m / 2^(bits−1), and q = clamp(roundf(w / scale + zp)),
 * computed in float32 with a reciprocal as MLAS does. This uses the 16th code (−8) that a
 * max|w| / 7 rule would waste. Checked against the fixtures' model_q4.onnx in quantize.test.ts.
 */

export type Bits = 4 | 8;
export const BLOCK_SIZES = [16, 32, 64, 128, 256] as const;

export interface BlockQuantized {
  /** [N, nBlocks, blobSize] */
  data: Uint8Array;
  /** [N, nBlocks] */
  scales: Float32Array;
  nBlocks: number;
  blobSize: number;
}

/** Quantizes `rows`, the weight as [N, K] row-major (one row per output column). */
export function quantizeBlockwise(rows: Float32Array, N: number, K: number, bits: Bits, blockSize: number): BlockQuantized {
  if (!BLOCK_SIZES.includes(blockSize as (typeof BLOCK_SIZES)[number])) throw new Error(`block size ${blockSize}: MatMulNBits takes ${BLOCK_SIZES.join(', ')}`);
  const nBlocks = Math.ceil(K / blockSize);
  const blobSize = (blockSize * bits) / 8;
  const zeroPoint = 2 ** (bits - 1);
  const maxCode = 2 ** bits - 1;
  // The padding past K in the last block stays 0, as in ORT's output; the kernel never reads it.
  const data = new Uint8Array(N * nBlocks * blobSize);
  const scales = new Float32Array(N * nBlocks);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let b = 0; b < nBlocks; b++) {
      const start = b * blockSize;
      const end = Math.min(K, start + blockSize);
      let min = Infinity;
      let max = -Infinity;
      for (let k = start; k < end; k++) {
        const v = rows[row + k]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const extreme = Math.abs(max) > Math.abs(min) ? max : min;
      const scale = Math.fround(-extreme / zeroPoint);
      scales[n * nBlocks + b] = scale;
      const reciprocal = scale ? Math.fround(1 / scale) : 0;
      const blob = (n * nBlocks + b) * blobSize;
      for (let k = start; k < end; k++) {
        // float32 products and sums as MLAS computes them; floor(x + 0.5) is roundf for x ≥ 0,
        // and anything below 0 clamps to 0 anyway.
        const x = Math.fround(Math.fround(rows[row + k]! * reciprocal) + zeroPoint);
        const q = Math.min(maxCode, Math.max(0, Math.floor(x + 0.5)));
        const i = k - start;
        if (bits === 8) data[blob + i] = q;
        else data[blob + (i >> 1)]! |= i & 1 ? q << 4 : q;
      }
    }
  }
  return { data, scales, nBlocks, blobSize };
}

/** The reverse, for tests and for checking a file: [N, K] float32 weights. */
export function dequantizeBlockwise(q: BlockQuantized, N: number, K: number, bits: Bits, blockSize: number): Float32Array {
  const out = new Float32Array(N * K);
  const zeroPoint = 2 ** (bits - 1);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / blockSize);
      const i = k - b * blockSize;
      const byte = q.data[(n * q.nBlocks + b) * q.blobSize + (bits === 8 ? i : i >> 1)]!;
      const code = bits === 8 ? byte : i & 1 ? byte >> 4 : byte & 15;
      out[n * K + k] = (code - zeroPoint) * q.scales[n * q.nBlocks + b]!;
    }
  }
  return out;
}

/** [K, N] → [N, K], in tiles so that large matrices stay cache-friendly. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const T = 64;
  for (let r0 = 0; r0 < rows; r0 += T) {
    for (let c0 = 0; c0 < cols; c0 += T) {
      const r1 = Math.min(rows, r0 + T);
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = w[r * cols + c]!;
    }
  }
  return out;
}
