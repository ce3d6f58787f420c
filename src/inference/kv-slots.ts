/**
 * The KV cache of graphs that return the positions each run added (new_key_values.*,
 * model/onnx/cached-attention.ts), kept here in place: one buffer per cache slot shaped
 * [rows, kv_heads, capacity, head_dim], a row per running sequence. A run is fed views of these
 * buffers as past_key_values.* (onnxruntime-node passes input data without copying), fetches
 * logits and new_key_values.* only, and the new positions are written into each row at its
 * length. Nothing proportional to the context crosses into JavaScript. Rows are right-padded.
 *
 * The graph's attention reads every row up to the capacity (the mask closes what is not
 * cached), so the capacity follows what the rows need: powers of two from 32 up to 256, then
 * steps of 128 (growing copies only the cached positions, once per 128 tokens at most), and it
 * shrinks again once the rows need less than half of it. It is always a multiple of 16, up to
 * the context rounded up (cached-attention.ts relies on it to sum the same way at any capacity).
 */
import { Tensor } from 'onnxruntime-node';
import type { SessionIO } from './session-io.ts';

export type KvData = Float32Array | Uint16Array;

const INITIAL_CAPACITY = 32;

export class KvSlots {
  private buffers: KvData[];
  private capacity: number;
  /** The most positions a row gets: the context, rounded up to a multiple of 16 (cached-attention.ts's sums depend on it). */
  private readonly ceiling: number;

  constructor(
    private readonly io: SessionIO,
    readonly rows: number,
    private readonly maxCapacity: number,
    private readonly initialCapacity = INITIAL_CAPACITY,
  ) {
    this.ceiling = Math.ceil(maxCapacity / 16) * 16;
    this.capacity = Math.min(initialCapacity, this.ceiling);
    this.buffers = io.cache.map(() => this.allocate(this.capacity));
  }

  /** Bytes held now (all rows, all slots). */
  get bytes(): number {
    return this.buffers.reduce((sum, b) => sum + b.byteLength, 0);
  }

  /** Whether the cache is float32 (else float16, as raw 16-bit words). */
  get holdsFloat32(): boolean {
    return this.io.kvType === 'float32';
  }

  /** Positions per row now. */
  get positions(): number {
    return this.capacity;
  }

  /**
   * Makes room for `tokens` positions per row, keeping row r's first `used[r]` positions (rows
   * not listed keep none): growing copies only what is cached, not the old capacity.
   */
  ensureCapacity(tokens: number, used: readonly number[]): void {
    if (tokens > this.maxCapacity) throw new Error(`KV cache: ${tokens} positions exceed the context of ${this.maxCapacity}`);
    if (tokens <= this.capacity) return;
    this.resize(this.capacityFor(tokens), used);
  }

  /** `ensureCapacity`, and gives back what is more than twice what `tokens` positions would take. */
  fit(tokens: number, used: readonly number[]): void {
    if (tokens > this.capacity) return this.ensureCapacity(tokens, used);
    const wanted = this.capacityFor(tokens);
    if (this.capacity > 2 * wanted) this.resize(wanted, used);
  }

  private capacityFor(tokens: number): number {
    let next = this.initialCapacity;
    while (next < tokens && next < 256) next *= 2;
    if (next < tokens) next = Math.ceil(tokens / 128) * 128;
    return Math.min(next, this.ceiling);
  }

  /**
   * attention_mask for `lengths.length` rows of these cached lengths, each adding `added`
   * positions: right-padded, one column wider than the views and the new positions, which tells
   * the graph that this caller keeps the cache itself (no present.*, cached-attention.ts).
   */
  mask(lengths: readonly number[], added: number, views = this.capacity): Tensor {
    const width = views + added + 1;
    const data = new BigInt64Array(lengths.length * width);
    lengths.forEach((n, row) => data.fill(1n, row * width, row * width + n + added));
    return new Tensor('int64', data, [lengths.length, width]);
  }

  private resize(next: number, used: readonly number[]): void {
    const { kvHeads, headDim } = this.io;
    this.buffers = this.buffers.map((old) => {
      const grown = this.allocate(next);
      used.forEach((length, row) => {
        for (let h = 0; h < kvHeads; h++) {
          const block = row * kvHeads + h;
          grown.set(old.subarray(block * this.capacity * headDim, (block * this.capacity + length) * headDim), block * next * headDim);
        }
      });
      return grown;
    });
    this.capacity = next;
  }

  /**
   * A past of no positions, for a prompt read from its start: attention then reads nothing but
   * the prompt, whatever the capacity (feed it with `mask(…, …, 0)`).
   */
  emptyViews(): Tensor[] {
    const { kvHeads, headDim, kvType } = this.io;
    return this.buffers.map((b) => new Tensor(kvType, b.subarray(0, 0), [1, kvHeads, 0, headDim]));
  }

  /** Views of rows [from, from + count), one tensor per cache slot, to feed as past_key_values.*. */
  views(from: number, count: number): Tensor[] {
    const rowSize = this.io.kvHeads * this.capacity * this.io.headDim;
    return this.buffers.map(
      (b) => new Tensor(this.io.kvType, b.subarray(from * rowSize, (from + count) * rowSize), [count, this.io.kvHeads, this.capacity, this.io.headDim]),
    );
  }

  /**
   * Writes the positions a run added: `added[slot]` is that run's new_key_values output
   * [batch, kv_heads, seq, head_dim]; its row `batchRow` goes to row `row` from position `at`.
   */
  write(row: number, at: number, added: readonly Tensor[], batchRow: number): void {
    added.forEach((t, slot) => this.copyIn(slot, row, at, t.data as KvData, t.dims[2]!, batchRow));
  }

  /** Positions [from, from + count) of row `row`, one [kv_heads, count, head_dim] array per slot. */
  read(row: number, from: number, count: number): KvData[] {
    const { kvHeads, headDim } = this.io;
    return this.buffers.map((b) => {
      const out = b instanceof Float32Array ? new Float32Array(kvHeads * count * headDim) : new Uint16Array(kvHeads * count * headDim);
      for (let h = 0; h < kvHeads; h++) {
        const start = ((row * kvHeads + h) * this.capacity + from) * headDim;
        out.set(b.subarray(start, start + count * headDim), h * count * headDim);
      }
      return out;
    });
  }

  /** Writes what `read` gave back (count positions per slot) into row `row` from position `at`. */
  restore(row: number, at: number, blocks: readonly KvData[], count: number): void {
    blocks.forEach((data, slot) => this.copyIn(slot, row, at, data, count, 0));
  }

  /** Copies `seq` positions of every head of batch row `batchRow` of `source` ([batch, kv_heads, seq, head_dim]) into row `row` from `at`. */
  private copyIn(slot: number, row: number, at: number, source: KvData, seq: number, batchRow: number): void {
    const { kvHeads, headDim } = this.io;
    const target = this.buffers[slot]!;
    for (let h = 0; h < kvHeads; h++) {
      const from = (batchRow * kvHeads + h) * seq * headDim;
      target.set(source.subarray(from, from + seq * headDim), ((row * kvHeads + h) * this.capacity + at) * headDim);
    }
  }

  /** Copies the first `length` positions of row `from` into row `to` (a leaver's row is refilled by the last one). */
  move(from: number, to: number, length: number): void {
    const { kvHeads, headDim } = this.io;
    for (const b of this.buffers) {
      for (let h = 0; h < kvHeads; h++) {
        const source = (from * kvHeads + h) * this.capacity * headDim;
        b.copyWithin((to * kvHeads + h) * this.capacity * headDim, source, source + length * headDim);
      }
    }
  }

  private allocate(capacity: number): KvData {
    const size = this.rows * this.io.kvHeads * capacity * this.io.headDim;
    // onnxruntime-node takes float16 tensor data as raw 16-bit words.
    return this.io.kvType === 'float16' ? new Uint16Array(size) : new Float32Array(size);
  }
}

