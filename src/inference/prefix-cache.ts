/**
 * The KV cache of sequences the engine has finished, kept for the next request that starts the
 * same way: a conversation's next turn, a regenerate or an edit, several chats sharing a system
 * prompt. Stored in blocks of BLOCK_TOKENS positions, each keyed by a hash of every token up to
 * its end (so a block stands for its whole prefix, and prefixes that agree share their blocks),
 * evicted least recently used first to stay within a byte budget.
 *
 * A request restores the longest run of cached blocks its prompt starts with into its row of
 * the in-place cache (kv-slots.ts) and prefills only the rest, two tokens at least. Only prompts
 * are kept (scheduler.ts `keepPrompt`): a conversation's next turn finds its previous turn's
 * prompt, and computes the reply it contains again.
 */
import { createHash } from 'node:crypto';
import { fromHalf, toHalf } from '../../model/fp16.ts';
import type { KvData, KvSlots } from './kv-slots.ts';

export const BLOCK_TOKENS = 16;

/** How blocks are stored: as the cache holds them, or float32 caches as float16 (half the bytes, not exact). */
export type KvCacheDtype = 'fp32' | 'fp16';

interface Block {
  data: KvData[];
  bytes: number;
}

export interface PrefixCacheStats {
  hitTokens: number;
  missTokens: number;
  evictions: number;
  bytes: number;
}

export class PrefixCache {
  /** In least recently used order: a Map iterates in insertion order, and a use re-inserts. */
  private readonly blocks = new Map<string, Block>();
  private bytesHeld = 0;
  private counts = { hitTokens: 0, missTokens: 0, evictions: 0 };

  constructor(
    readonly maxBytes: number,
    readonly dtype: KvCacheDtype = 'fp32',
  ) {}

  get bytes(): number {
    return this.bytesHeld;
  }

  /**
   * Copies the longest cached prefix of `ids` that leaves at least two tokens to compute (the
   * last one's logits choose the first new token, and a prompt's run of one token would be taken
   * for a decode step: cached-attention.ts) into row `row` of `slots` (which must have room for
   * it); returns its length in tokens.
   */
  restore(ids: readonly number[], slots: KvSlots, row: number): number {
    const found: Block[] = [];
    for (const key of blockKeys(ids, Math.floor((ids.length - 2) / BLOCK_TOKENS))) {
      const block = this.blocks.get(key);
      if (!block) break;
      this.touch(key, block);
      found.push(block);
    }
    found.forEach((block, i) => slots.restore(row, i * BLOCK_TOKENS, this.unpack(block.data, slots), BLOCK_TOKENS));
    const cached = found.length * BLOCK_TOKENS;
    this.counts.hitTokens += cached;
    this.counts.missTokens += ids.length - cached;
    return cached;
  }

  /** Keeps the full blocks of a sequence whose first `length` tokens `ids` are in row `row` of `slots`. */
  store(ids: readonly number[], length: number, slots: KvSlots, row: number): void {
    if (this.maxBytes <= 0) return;
    blockKeys(ids, Math.floor(length / BLOCK_TOKENS)).forEach((key, i) => {
      const held = this.blocks.get(key);
      if (held) return this.touch(key, held);
      const data = this.pack(slots.read(row, i * BLOCK_TOKENS, BLOCK_TOKENS));
      const bytes = data.reduce((sum, d) => sum + d.byteLength, 0);
      if (bytes > this.maxBytes) return;
      this.blocks.set(key, { data, bytes });
      this.bytesHeld += bytes;
    });
    this.evictTo(this.maxBytes);
  }

  /** What happened since the last call (counts), and the bytes held now. */
  takeStats(): PrefixCacheStats {
    const stats = { ...this.counts, bytes: this.bytesHeld };
    this.counts = { hitTokens: 0, missTokens: 0, evictions: 0 };
    return stats;
  }

  /** What a block keeps of what the cache holds: float32 halved to float16 with `fp16`. */
  private pack(data: KvData[]): KvData[] {
    return this.dtype === 'fp16' ? data.map((d) => (d instanceof Float32Array ? toHalf(d) : d)) : data;
  }

  /** Back to the cache's own element type. */
  private unpack(data: KvData[], slots: KvSlots): KvData[] {
    return slots.holdsFloat32 ? data.map((d) => (d instanceof Uint16Array ? fromHalf(d) : d)) : data;
  }

  private touch(key: string, block: Block): void {
    this.blocks.delete(key);
    this.blocks.set(key, block);
  }

  private evictTo(limit: number): void {
    for (const [key, block] of this.blocks) {
      if (this.bytesHeld <= limit) return;
      this.blocks.delete(key);
      this.bytesHeld -= block.bytes;
      this.counts.evictions++;
    }
  }
}

/** Keys of the first `count` blocks of `ids`: each hashes the previous key and its own tokens. */
function blockKeys(ids: readonly number[], count: number): string[] {
  const keys: string[] = [];
  let previous = '';
  for (let b = 0; b < count; b++) {
    const tokens = Int32Array.from(ids.slice(b * BLOCK_TOKENS, (b + 1) * BLOCK_TOKENS));
    previous = createHash('sha256').update(previous).update(new Uint8Array(tokens.buffer)).digest('base64');
    keys.push(previous);
  }
  return keys;
}
