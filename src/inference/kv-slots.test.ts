import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cached, preset, randomWeights, writeModelFolder } from '../../model/index.ts';
import { collect } from '../../test/support/collect.ts';
import { InferenceEngine } from './engine.ts';
import { Tensor } from 'onnxruntime-node';
import { KvSlots } from './kv-slots.ts';
import { STUB_SESSION_IO as io } from '../../test/support/session-io.ts';

/** Writes `length` positions of a row, every value naming its row, head, position and dimension. */
function fill(slots: KvSlots, row: number, length: number) {
  const data = slots.views(row, 1)[0]!.data as Float32Array;
  const capacity = slots.views(0, 1)[0]!.dims[2]!;
  for (let h = 0; h < 2; h++) for (let t = 0; t < length; t++) for (let d = 0; d < 3; d++) data[(h * capacity + t) * 3 + d] = row * 1000 + h * 100 + t * 10 + d;
}
function read(slots: KvSlots, row: number, length: number): number[] {
  const view = slots.views(row, 1)[0]!;
  const capacity = view.dims[2]!;
  const data = view.data as Float32Array;
  const out: number[] = [];
  for (let h = 0; h < 2; h++) for (let t = 0; t < length; t++) for (let d = 0; d < 3; d++) out.push(data[(h * capacity + t) * 3 + d]!);
  return out;
}
const expected = (row: number, length: number) => Array.from({ length: 2 * length * 3 }, (_, i) => row * 1000 + Math.floor(i / (length * 3)) * 100 + Math.floor((i % (length * 3)) / 3) * 10 + (i % 3));

describe('KvSlots', () => {
  it('keeps every row when it grows, doubling up to the context (rounded up to 16 positions) and no further', () => {
    const slots = new KvSlots(io, 3, 20, 4);
    for (const row of [0, 1, 2]) fill(slots, row, 4);
    slots.ensureCapacity(5, [4, 4, 4]);
    expect(slots.views(0, 3)[0]!.dims).toEqual([3, 2, 8, 3]);
    for (const row of [0, 1, 2]) expect(read(slots, row, 4)).toEqual(expected(row, 4));
    slots.ensureCapacity(17, [4, 4, 4]);
    expect(slots.views(0, 1)[0]!.dims).toEqual([1, 2, 32, 3]);
    for (const row of [0, 1, 2]) expect(read(slots, row, 4)).toEqual(expected(row, 4));
    expect(slots.bytes).toBe(3 * 2 * 32 * 3 * 4);
    expect(() => slots.ensureCapacity(21, [4, 4, 4])).toThrow(/21 positions exceed the context of 20/);
  });

  it('carries over only the positions each row holds when it grows', () => {
    const slots = new KvSlots(io, 2, 16, 4);
    fill(slots, 0, 4);
    fill(slots, 1, 4);
    slots.ensureCapacity(5, [4, 2]);
    expect(read(slots, 0, 4)).toEqual(expected(0, 4));
    const row1 = read(slots, 1, 4);
    expect([...row1.slice(0, 6), ...row1.slice(12, 18)]).toEqual([...expected(1, 2).slice(0, 6), ...expected(1, 2).slice(6, 12)]);
    expect([...row1.slice(6, 12), ...row1.slice(18, 24)].every((x) => x === 0)).toBe(true);
  });

  it('moves a row into another, every head', () => {
    const slots = new KvSlots(io, 3, 8, 8);
    for (const row of [0, 1, 2]) fill(slots, row, 5);
    slots.move(2, 0, 5);
    expect(read(slots, 0, 5)).toEqual(expected(2, 5));
    expect(read(slots, 1, 5)).toEqual(expected(1, 5));
  });

  it('writes a run\'s new positions, row by row and head by head, at each row\'s length', () => {
    const slots = new KvSlots(io, 2, 8, 8);
    fill(slots, 0, 3);
    fill(slots, 1, 3);
    // A batch of two rows, 2 new positions each: [batch, kv_heads, seq, head_dim].
    const added = new Tensor('float32', Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => -(i + 1)), [2, 2, 2, 3]);
    slots.write(1, 3, [added], 0);
    const row1 = read(slots, 1, 5);
    // Row 1 keeps its first 3 positions; positions 3 and 4 of each head are batch row 0's.
    expect(row1.slice(0, 9)).toEqual(expected(1, 3).slice(0, 9));
    expect(row1.slice(9, 15)).toEqual([-1, -2, -3, -4, -5, -6]);
    expect(row1.slice(15, 24)).toEqual(expected(1, 3).slice(9, 18));
    expect(row1.slice(24, 30)).toEqual([-7, -8, -9, -10, -11, -12]);
    expect(read(slots, 0, 3)).toEqual(expected(0, 3));
  });

  it('right-pads the attention mask one column past the capacity and the new positions', () => {
    const slots = new KvSlots(io, 3, 64, 4);
    const mask = slots.mask([2, 0, 4], 1);
    expect(mask.dims).toEqual([3, 6]);
    expect(Array.from(mask.data as BigInt64Array, Number)).toEqual([1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]);
  });

  it('keeps the capacity near what the rows need: doubling to 256, steps of 128, shrinking past half', () => {
    const slots = new KvSlots(io, 2, 2048);
    const capacities: number[] = [];
    for (const tokens of [20, 33, 200, 257, 700, 768, 769, 700, 300, 100, 2048]) {
      fill(slots, 0, 10);
      fill(slots, 1, 10);
      slots.fit(tokens, [10, 10]);
      capacities.push(slots.positions);
      // What was cached survives every move, up and down.
      expect(read(slots, 0, 10)).toEqual(expected(0, 10));
      expect(read(slots, 1, 10)).toEqual(expected(1, 10));
    }
    expect(capacities).toEqual([32, 64, 256, 384, 768, 768, 896, 896, 384, 128, 2048]);
  });
});

describe('the engine with the in-place cache', () => {
  const dirs: Record<'optimized' | 'portable', string> = { optimized: '', portable: '' };
  beforeAll(() => {
    // Context 600: long prompts make the cache grow (from 32 positions) mid-batch.
    const weights = cached(randomWeights({ ...preset('tiny'), context: 600 }, { seed: 5, std: 0.2 }));
    for (const flavour of ['optimized', 'portable'] as const) {
      dirs[flavour] = fs.mkdtempSync(path.join(os.tmpdir(), `gptql-kv-${flavour}-`));
      writeModelFolder(dirs[flavour], weights, { flavour, dtype: 'fp32' });
    }
  });
  afterAll(() => {
    for (const dir of Object.values(dirs)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves our optimized graph in place and the portable one copied, with the same tokens alone and batched, across growth', async () => {
    const requests = [
      { input: { prompt: 'long '.repeat(245) }, params: { temperature: 0, maxTokens: 30, minTokens: 30 } },
      { input: { prompt: 'short one' }, params: { temperature: 0.8, seed: 3, maxTokens: 12, minTokens: 12 } },
      { input: { prompt: 'middle '.repeat(120) }, params: { temperature: 0.8, seed: 4, maxTokens: 40, minTokens: 40 } },
      { input: { prompt: 'another short' }, params: { temperature: 0, maxTokens: 20, minTokens: 20 } },
    ];
    const tokens: Record<string, number[][]> = {};
    for (const flavour of ['optimized', 'portable'] as const) {
      const engine = await InferenceEngine.start({ modelPath: dirs[flavour], maxBatchSize: 4, intraOpThreads: 1 });
      try {
        expect(engine.model.kvCache).toBe(flavour === 'optimized' ? 'in-place' : 'copied');
        const ids = async (r: (typeof requests)[number]) => (await collect(engine.generate({ ...r, diagnostics: true }))).done.diagnostics!.tokenIds;
        const alone: number[][] = [];
        for (const r of requests) alone.push(await ids(r));
        // Together: the short ones finish first, so rows leave and the last row moves into theirs.
        const together = await Promise.all(requests.map(ids));
        expect(together).toEqual(alone);
        tokens[flavour] = alone;
      } finally {
        await engine.close();
      }
    }
    // The two graphs compute the same model; greedy rows agree token for token.
    expect(tokens.optimized![0]).toEqual(tokens.portable![0]);
    expect(tokens.optimized![3]).toEqual(tokens.portable![3]);
  });
});
