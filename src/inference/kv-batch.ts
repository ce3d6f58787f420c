/**
 * The KV cache of the running decode batch, one tensor per cache slot shaped
 * [batch, heads, width, headDim]. Rows are left-padded: a sequence of length n occupies the
 * last n positions, so every row appends its next token at the same index and one session.run
 * serves sequences of different lengths (padding is closed off by the attention mask).
 *
 * While the batch keeps its members, each step's `present` outputs simply become the next
 * step's cache: no copy. Only when sequences join or leave is the batch re-laid.
 */
import { Tensor } from 'onnxruntime-node';
import type { SessionIO } from './session-io.ts';

type KvData = Float32Array | Uint16Array;

export class KvBatch {
  private constructor(
    readonly tensors: Tensor[],
    /** Real length of each row. */
    readonly lengths: number[],
    /** Padded length: the longest row. */
    readonly width: number,
  ) {}

  get size(): number {
    return this.lengths.length;
  }

  /** The cache a prompt's prefill starts from: one row, nothing in it. */
  static empty(io: SessionIO, rows = 1): KvBatch {
    const tensors = io.cache.map(() => new Tensor(io.kvType, newData(io.kvType, 0), [rows, io.kvHeads, 0, io.headDim]));
    return new KvBatch(tensors, new Array<number>(rows).fill(0), 0);
  }

  /** The cache after a step that added `added` positions to every row, from its `present` outputs. */
  advance(presents: Tensor[], added = 1): KvBatch {
    return new KvBatch(presents, this.lengths.map((n) => n + added), this.width + added);
  }

  /** Attention mask for a step of `added` new positions per row: 0 over padding, 1 elsewhere. */
  mask(added = 1): BigInt64Array {
    const total = this.width + added;
    const mask = new BigInt64Array(this.size * total);
    this.lengths.forEach((n, row) => mask.fill(1n, row * total + (this.width - n), (row + 1) * total));
    return mask;
  }

  /** A new batch made of the given rows of existing batches, in order, re-padded to the longest. */
  static compose(io: SessionIO, rows: readonly { batch: KvBatch; row: number }[]): KvBatch {
    const lengths = rows.map(({ batch, row }) => batch.lengths[row]!);
    const width = Math.max(0, ...lengths);
    const heads = io.kvHeads;
    const dim = io.headDim;
    const tensors = io.cache.map((_, slot) => {
      const target = newData(io.kvType, rows.length * heads * width * dim);
      rows.forEach(({ batch, row }, to) => {
        const source = batch.tensors[slot]!.data as KvData;
        const n = batch.lengths[row]!;
        for (let h = 0; h < heads; h++) {
          const from = ((row * heads + h) * batch.width + (batch.width - n)) * dim;
          const at = ((to * heads + h) * width + (width - n)) * dim;
          target.set(source.subarray(from, from + n * dim), at);
        }
      });
      return new Tensor(io.kvType, target, [rows.length, heads, width, dim]);
    });
    return new KvBatch(tensors, lengths, width);
  }
}

function newData(type: SessionIO['kvType'], size: number): KvData {
  // onnxruntime-node takes float16 tensor data as raw 16-bit words.
  return type === 'float16' ? new Uint16Array(size) : new Float32Array(size);
}
