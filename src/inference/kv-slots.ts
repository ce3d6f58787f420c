/**
 * The KV cache of graphs that update it in place (GroupQueryAttention with its past and present
 * bound to one buffer, model/onnx/group-query-attention.ts): one buffer per cache slot shaped
 * [rows, kv_heads, capacity, head_dim], a row per running sequence. A step feeds views of these
 * buffers as past_key_values.* and binds the same views as present.*, so the kernel appends
 * each row's new keys and values at that row's length and nothing is copied per step. Rows are
 * right-padded: each attends over its own length only.
 *
 * Capacity starts small and doubles (up to the context length) when a row needs more, so that
 * eight rows of a model with a 32k context do not reserve gigabytes for short chats.
 */
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import type { SessionIO } from './session-io.ts';

type KvData = Float32Array | Uint16Array;

const INITIAL_CAPACITY = 256;

export class KvSlots {
  private buffers: KvData[];
  private capacity: number;

  constructor(
    private readonly io: SessionIO,
    readonly rows: number,
    private readonly maxCapacity: number,
    initialCapacity = INITIAL_CAPACITY,
  ) {
    this.capacity = Math.min(initialCapacity, maxCapacity);
    this.buffers = io.cache.map(() => this.allocate(this.capacity));
  }

  /** Bytes held now (all rows, all slots). */
  get bytes(): number {
    return this.buffers.reduce((sum, b) => sum + b.byteLength, 0);
  }

  /** Makes room for `tokens` positions per row, keeping every row's contents. */
  ensureCapacity(tokens: number): void {
    if (tokens <= this.capacity) return;
    if (tokens > this.maxCapacity) throw new Error(`KV cache: ${tokens} positions exceed the context of ${this.maxCapacity}`);
    let next = this.capacity;
    while (next < tokens) next *= 2;
    next = Math.min(next, this.maxCapacity);
    const headSize = this.capacity * this.io.headDim;
    this.buffers = this.buffers.map((old) => {
      const grown = this.allocate(next);
      for (let block = 0; block < this.rows * this.io.kvHeads; block++) {
        grown.set(old.subarray(block * headSize, (block + 1) * headSize), block * next * this.io.headDim);
      }
      return grown;
    });
    this.capacity = next;
  }

  /** Views of rows [from, from + count), one tensor per cache slot, to feed as past and bind as present. */
  views(from: number, count: number): Tensor[] {
    const rowSize = this.io.kvHeads * this.capacity * this.io.headDim;
    return this.buffers.map(
      (b) => new Tensor(this.io.kvType, b.subarray(from * rowSize, (from + count) * rowSize), [count, this.io.kvHeads, this.capacity, this.io.headDim]),
    );
  }

  /** Copies the first `length` positions of row `from` into row `to` (a leaver's row is refilled by the last one). */
  move(from: number, to: number, length: number): void {
    const { kvHeads, headDim } = this.io;
    for (const b of this.buffers) {
      for (let h = 0; h < kvHeads; h++) {
        const source = ((from * kvHeads + h) * this.capacity) * headDim;
        b.copyWithin(((to * kvHeads + h) * this.capacity) * headDim, source, source + length * headDim);
      }
    }
  }

  private allocate(capacity: number): KvData {
    const size = this.rows * this.io.kvHeads * capacity * this.io.headDim;
    // onnxruntime-node takes float16 tensor data as raw 16-bit words.
    return this.io.kvType === 'float16' ? new Uint16Array(size) : new Float32Array(size);
  }
}

/** attention_mask for rows of these cached lengths, each adding `added` positions: right-padded. */
export function rightPaddedMask(lengths: readonly number[], added: number): { data: BigInt64Array; width: number } {
  const width = Math.max(...lengths) + added;
  const data = new BigInt64Array(lengths.length * width);
  lengths.forEach((n, row) => data.fill(1n, row * width, row * width + n + added));
  return { data, width };
}

/** Feeds the cache views as past_key_values.* and binds them as present.*: the run writes into them. */
export function bindCache(io: SessionIO, views: readonly Tensor[], feeds: Record<string, Tensor>): Record<string, Tensor | null> {
  const fetches: Record<string, Tensor | null> = { [io.logits]: null };
  io.cache.forEach((slot, i) => {
    feeds[slot.past] = views[i]!;
    fetches[slot.present] = views[i]!;
  });
  return fetches;
}

/**
 * Whether this session's graph updates its KV cache in place: one token run over an empty cache
 * of capacity 2 with present bound to past must succeed and leave keys at position 0. Graphs that
 * concatenate (Optimum exports, MultiHeadAttention, our portable flavour) fail the run, since
 * their present is one position longer than the bound buffer.
 */
export async function updatesCacheInPlace(session: InferenceSession, io: SessionIO): Promise<boolean> {
  if (io.hasUseCacheBranch) return false;
  const slots = new KvSlots(io, 1, 2);
  const feeds: Record<string, Tensor> = {
    input_ids: new Tensor('int64', new BigInt64Array(1), [1, 1]),
    attention_mask: new Tensor('int64', BigInt64Array.from([1n]), [1, 1]),
  };
  if (io.hasPositionIds) feeds.position_ids = new Tensor('int64', new BigInt64Array(1), [1, 1]);
  const views = slots.views(0, 1);
  const fetches = bindCache(io, views, feeds);
  try {
    // Failure is the expected answer for most graphs: keep ONNX Runtime from logging it as an error.
    await session.run(feeds, fetches, { logSeverityLevel: 4 });
  } catch {
    return false;
  }
  const keys = views[0]!.data as KvData;
  return keys.subarray(0, io.headDim).some((x) => x !== 0);
}
