/**
 * Symmetric per-output-channel int8 weights, as ONNX Runtime's quantize_dynamic stores them
 * (per_channel=True, QInt8: zero point 0, scale = max|w| / 127, codes in [−127, 127]).
 */

export interface PerChannelQuantized {
  /** int8 [K, N], the layout MatMulInteger and DynamicQuantizeMatMul read. */
  data: Int8Array;
  /** [N] */
  scales: Float32Array;
}

/** Quantizes `rows`, the weight as [N, K] (one row per output column). */
export function quantizePerChannel(rows: Float32Array, N: number, K: number): PerChannelQuantized {
  const data = new Int8Array(K * N);
  const scales = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let absMax = 0;
    for (let k = 0; k < K; k++) absMax = Math.max(absMax, Math.abs(rows[n * K + k]!));
    const scale = Math.fround(absMax / 127);
    scales[n] = scale;
    if (scale === 0) continue;
    for (let k = 0; k < K; k++) {
      // Math.round rounds halves up; ties are rare enough in real weights not to matter here.
      data[k * N + n] = Math.max(-127, Math.min(127, Math.round(rows[n * K + k]! / scale)));
    }
  }
  return { data, scales };
}
