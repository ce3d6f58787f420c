/**
 * Bytes of weights one decode step reads, from an ONNX file's graph: a batch-1 decode step is a
 * chain of matrix–vector products, so every weight matrix is read once per token and the
 * memory bus, not arithmetic, sets the pace on a CPU.
 *
 * Counted: every initializer that reaches a node other than Gather (MatMul, Gemm, MatMulNBits
 * weights, scales and zero points, DynamicQuantizeMatMul weights and scales (published int8 files), LayerNorm and
 * SkipLayerNorm gains and biases, Add biases, the tied LM head), at the size it has when the
 * graph runs: a float16 tensor behind a Cast to float32 (the `fp16` weights of gptql's builder,
 * cast once when the session loads) counts 4 bytes per element, since the cast result is what
 * each step reads. Not counted: tensors read only by Gather (the token and position
 * embeddings: one row each per token), and the KV cache (activations, not weights). ONNX
 * Runtime may repack weights at load (MLAS packed GEMM, MatMulNBits' prepacked blocks); the
 * repacked forms are about the same size, which this does not model.
 */
import { BYTES_PER_ELEMENT, dimsOf, elementCount, loadModel, type ModelProto } from '../../model/quantize/onnx-file.ts';


/** Nodes a weight passes through unchanged in size or only in dtype. */
const PASS_THROUGH = new Set(['Cast', 'Transpose', 'Identity', 'Reshape', 'Unsqueeze', 'Squeeze']);

export interface WeightBytes {
  /** Bytes a decode step reads. */
  perToken: number;
  /** Bytes of the initializers only Gather reads (embedding tables), left out of perToken. */
  gathered: number;
  /** Bytes of all initializers at run-time size. */
  total: number;
}

export function decodeWeightBytes(model: ModelProto): WeightBytes {
  const nodes = model.graph?.node ?? [];
  const consumers = new Map<string, typeof nodes>();
  for (const node of nodes) {
    for (const input of node.input ?? []) {
      if (!input) continue;
      const list = consumers.get(input) ?? [];
      list.push(node);
      consumers.set(input, list);
    }
  }
  /** Where a value ends up: its element size after casts and whether anything but Gather reads it. */
  const follow = (name: string, elementBytes: number, seen = new Set<string>()): { elementBytes: number; computed: boolean } => {
    let computed = false;
    let size = elementBytes;
    if (seen.has(name)) return { elementBytes, computed };
    seen.add(name);
    for (const node of consumers.get(name) ?? []) {
      // Only a pass-through node's data input (its first) flows on; Reshape's shape is read, not carried.
      if (PASS_THROUGH.has(node.opType ?? '') && node.input![0] === name) {
        const to = node.opType === 'Cast' ? Number(node.attribute?.find((a) => a.name === 'to')?.i ?? 0) : 0;
        const next = follow(node.output![0]!, to ? (BYTES_PER_ELEMENT[to] ?? elementBytes) : elementBytes, seen);
        computed ||= next.computed;
        if (next.computed) size = Math.max(size, next.elementBytes);
      } else if (node.opType !== 'Gather') {
        computed = true;
      }
    }
    return { elementBytes: size, computed };
  };
  let perToken = 0;
  let gathered = 0;
  let total = 0;
  for (const t of model.graph?.initializer ?? []) {
    const count = elementCount(dimsOf(t));
    const stored = BYTES_PER_ELEMENT[t.dataType ?? 0] ?? 4;
    const { elementBytes, computed } = follow(t.name!, stored);
    const bytes = Math.ceil(count * elementBytes);
    total += bytes;
    if (computed) perToken += bytes;
    else gathered += bytes;
  }
  return { perToken, gathered, total };
}

export function decodeWeightBytesOfFile(file: string): WeightBytes {
  return decodeWeightBytes(loadModel(file).model);
}
