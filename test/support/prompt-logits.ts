/** One ONNX decoder file run straight through onnxruntime-node: the logits at every prompt position. */
import * as ort from 'onnxruntime-node';
import { describeSession } from '../../src/inference/session-io.ts';

export async function promptLogits(onnxPath: string, ids: readonly number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const io = describeSession(session);
    const T = ids.length;
    const int64 = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, T]);
    const feeds: Record<string, ort.Tensor> = { input_ids: int64([...ids]), attention_mask: int64(ids.map(() => 1)) };
    if (io.hasPositionIds) feeds.position_ids = int64(ids.map((_, i) => i));
    for (const slot of io.cache) feeds[slot.past] = new ort.Tensor(io.kvType, io.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, io.kvHeads, 0, io.headDim]);
    const logits = (await session.run(feeds))[io.logits]!;
    const vocab = logits.dims[2]!;
    const data = logits.data as Float32Array;
    return Array.from({ length: T }, (_, t) => data.slice(t * vocab, (t + 1) * vocab));
  } finally {
    await session.release();
  }
}
