/**
 * Keeps float16 tensor data in Uint16Array, as the engine handles it (raw 16-bit words: see
 * kv-batch.ts, fromHalf). Where the runtime has Float16Array (Node 24), onnxruntime-common maps
 * float16 tensors to it, and onnxruntime-node 1.30's binding then reads every float16 input as
 * 0 bytes ("not enough space: expected N, got 0"; microsoft/onnxruntime PR #32323, still open):
 * no float16 KV cache could be fed back. onnxruntime-common picks the array type once, at the
 * first tensor it makes, so that first tensor is made here with Float16Array out of sight.
 */
import { Tensor } from 'onnxruntime-node';

export function keepFloat16AsUint16(): void {
  const float16 = Object.getOwnPropertyDescriptor(globalThis, 'Float16Array');
  if (!float16) return;
  delete (globalThis as { Float16Array?: unknown }).Float16Array;
  try {
    new Tensor('float32', new Float32Array(0), [0]);
  } finally {
    Object.defineProperty(globalThis, 'Float16Array', float16);
  }
}
