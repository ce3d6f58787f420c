/** One ONNX decoder file run straight through onnxruntime-node, without the engine. */
import * as ort from 'onnxruntime-node';
import { argmax } from '../../src/inference/sampler.ts';
import { describeSession, type SessionIO } from '../../src/inference/session-io.ts';

const int64 = (values: readonly number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);

function emptyCache(io: SessionIO): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const slot of io.cache) feeds[slot.past] = new ort.Tensor(io.kvType, io.kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, io.kvHeads, 0, io.headDim]);
  return feeds;
}

/** Runs `ids` after `past` (positions continuing from its length); returns the logits rows and the new cache. */
async function run(session: ort.InferenceSession, io: SessionIO, ids: readonly number[], past: Record<string, ort.Tensor>, pastLength: number) {
  const T = ids.length;
  const total = pastLength + T;
  const feeds: Record<string, ort.Tensor> = { ...past, input_ids: int64(ids, [1, T]), attention_mask: int64(new Array<number>(total).fill(1), [1, total]) };
  if (io.hasPositionIds) feeds.position_ids = int64(ids.map((_, i) => pastLength + i), [1, T]);
  if (io.hasUseCacheBranch) feeds.use_cache_branch = new ort.Tensor('bool', [pastLength > 0], [1]);
  const out = await session.run(feeds);
  const logits = out[io.logits]!;
  const vocab = logits.dims[2]!;
  const data = logits.data as Float32Array;
  const rows = Array.from({ length: T }, (_, t) => data.slice(t * vocab, (t + 1) * vocab));
  return { rows, past: Object.fromEntries(io.cache.map((slot) => [slot.past, out[slot.present]!])) };
}

async function withSession<T>(onnxPath: string, use: (session: ort.InferenceSession, io: SessionIO) => Promise<T>): Promise<T> {
  const session = await ort.InferenceSession.create(onnxPath, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    return await use(session, describeSession(session));
  } finally {
    await session.release();
  }
}

/** The logits at every prompt position. */
export function promptLogits(onnxPath: string, ids: readonly number[]): Promise<Float32Array[]> {
  return withSession(onnxPath, async (session, io) => (await run(session, io, ids, emptyCache(io), 0)).rows);
}

/** `count` greedy tokens after `ids`, each step fed the previous one's cache; `excluded` ids (EOS, as min_new_tokens does) are never chosen. */
export function greedyIds(onnxPath: string, ids: readonly number[], count: number, excluded: readonly number[] = []): Promise<number[]> {
  return withSession(onnxPath, async (session, io) => {
    const out: number[] = [];
    let { rows, past } = await run(session, io, ids, emptyCache(io), 0);
    let length = ids.length;
    while (out.length < count) {
      const last = rows.at(-1)!;
      for (const id of excluded) last[id] = -Infinity;
      const best = argmax(last);
      out.push(best);
      ({ rows, past } = await run(session, io, [best], past, length));
      length++;
    }
    return out;
  });
}
