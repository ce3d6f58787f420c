import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { preset } from '../presets.ts';
import { cached, randomWeights, type WeightSource } from '../weights.ts';
import { referenceForward } from '../reference.ts';
import { fromHalf, toHalf } from '../fp16.ts';
import { GptSession } from '../session.ts';
import { buildGptGraph, FLAVOURS, io } from './gpt.ts';
import type { WeightDtype } from './graph.ts';

const config = preset('tiny');
// std 0.2 rather than GPT-2's 0.02 makes logits O(1), so a 1e-4 tolerance is a real check.
const weights = cached(randomWeights(config, { seed: 7, std: 0.2 }));
const ids = [5, 17, 300, 1000, 42, 7, 4095, 3, 0, 2048, 11, 99];
const V = config.vocab;

async function session(flavour: (typeof FLAVOURS)[number], dtype: WeightDtype = 'fp32', w: WeightSource = weights): Promise<GptSession> {
  return GptSession.fromBytes(buildGptGraph(w, flavour).serialize({ dtype, weights: 'embed' }), config);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const reference = Float64Array.from(referenceForward(weights, ids).flatMap((row) => [...row]));

describe.each(FLAVOURS)('%s graph, tiny preset', (flavour) => {
  it('matches the reference forward pass within 1e-4 (fp32)', async () => {
    const s = await session(flavour);
    const { logits } = await s.step(ids);
    expect(Math.max(...reference.map(Math.abs))).toBeGreaterThan(1);
    expect(maxDiff(logits, reference)).toBeLessThan(1e-4);
  });

  it('decoding token by token through the KV cache gives the full-pass logits', async () => {
    const s = await session(flavour);
    const full = (await s.step(ids)).logits;
    // Prefill a prefix, then one token at a time.
    let { logits, state } = await s.step(ids.slice(0, 3));
    const rows = [logits];
    for (const id of ids.slice(3)) {
      ({ logits, state } = await s.step([id], state));
      rows.push(logits);
    }
    const stepped = Float32Array.from(rows.flatMap((r) => [...r]));
    expect(state.length).toBe(ids.length);
    expect(state.tensors[io.pastKey(0)]!.dims).toEqual([1, config.heads, ids.length, config.width / config.heads]);
    expect(maxDiff(stepped, full)).toBeLessThan(1e-4);
  });

  it('fp16 weights compute the model with fp16-rounded weights', async () => {
    const rounded: WeightSource = { config, tensor: (n) => fromHalf(toHalf(weights.tensor(n))) };
    const expected = Float64Array.from(referenceForward(rounded, ids).flatMap((row) => [...row]));
    const { logits } = await (await session(flavour, 'fp16')).step(ids);
    expect(maxDiff(logits, expected)).toBeLessThan(1e-4);
    // And the rounding is visible: fp16 is not silently fp32.
    expect(maxDiff(logits, reference)).toBeGreaterThan(1e-5);
  });

  // The portable graph's batches are left-padded (an additive mask closes the padding); the
  // optimized graph's attention wants right padding (each row's length from the mask).
  const padding = flavour === 'portable' ? 'left' : 'right';
  it(`a ${padding}-padded batch row gives the same logits as the row alone`, async () => {
    const s = await session(flavour);
    const alone = (await s.step(ids.slice(0, 4))).logits;
    const pad = 3;
    const n = 4 + pad;
    const past = s.emptyState().tensors;
    for (const k of Object.keys(past)) past[k] = new ort.Tensor('float32', new Float32Array(0), [2, config.heads, 0, config.width / config.heads]);
    const short = { ids: ids.slice(0, 4), mask: [1, 1, 1, 1], pos: [0, 1, 2, 3] };
    const pads = { ids: [0, 0, 0], mask: [0, 0, 0], pos: [0, 0, 0] };
    const row2 = (k: keyof typeof short) => (padding === 'left' ? [...pads[k], ...short[k]] : [...short[k], ...pads[k]]);
    const out = await s.session.run({
      ...past,
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from([...ids.slice(5, 5 + n), ...row2('ids')], BigInt), [2, n]),
      [io.attentionMask]: new ort.Tensor('int64', BigInt64Array.from([...Array(n).fill(1), ...row2('mask')], BigInt), [2, n]),
      [io.positionIds]: new ort.Tensor('int64', BigInt64Array.from([0, 1, 2, 3, 4, 5, 6, ...row2('pos')], BigInt), [2, n]),
    });
    const firstReal = padding === 'left' ? n + pad : n;
    const batched = (out[io.logits]!.data as Float32Array).subarray(firstReal * V, (firstReal + 4) * V);
    expect(maxDiff(batched, alone)).toBeLessThan(1e-4);
  });
});

describe('optimized graph, a caller keeping its own cache', () => {
  it('reads a past wider than what is cached, and makes present.* only for a mask exactly past + new wide', async () => {
    const s = await session('optimized');
    const full = (await s.step(ids)).logits;
    const head = config.width / config.heads;
    const cachedCount = 5;
    const capacity = 9;
    // The cache of the first 5 tokens, in buffers of 9 positions whose last 4 hold garbage.
    const prefix = await s.step(ids.slice(0, cachedCount));
    const past: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(prefix.state.tensors)) {
      const wide = new Float32Array(config.heads * capacity * head).fill(1e3);
      for (let h = 0; h < config.heads; h++) wide.set((tensor.data as Float32Array).subarray(h * cachedCount * head, (h + 1) * cachedCount * head), h * capacity * head);
      past[name] = new ort.Tensor('float32', wide, [1, config.heads, capacity, head]);
    }
    const rest = ids.slice(cachedCount);
    const run = (width: number) =>
      s.session.run({
        ...past,
        [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(rest, BigInt), [1, rest.length]),
        [io.attentionMask]: new ort.Tensor('int64', BigInt64Array.from({ length: width }, (_, i) => (i < ids.length ? 1n : 0n)), [1, width]),
        [io.positionIds]: new ort.Tensor('int64', BigInt64Array.from(rest, (_, i) => BigInt(cachedCount + i)), [1, rest.length]),
      });
    // One column past the buffers and the new tokens: the caller keeps the cache itself.
    const own = await run(capacity + rest.length + 1);
    expect(maxDiff(own[io.logits]!.data as Float32Array, full.subarray(cachedCount * V))).toBeLessThan(1e-4);
    expect(own[io.presentKey(0)]!.dims).toEqual([1, config.heads, 0, head]);
    expect(own['new_key_values.0.key']!.dims).toEqual([1, config.heads, rest.length, head]);
    // Exactly past + new wide (Optimum's convention): present.* is the past joined with the new positions.
    const optimum = await run(capacity + rest.length);
    expect(optimum[io.presentKey(0)]!.dims).toEqual([1, config.heads, capacity + rest.length, head]);
  });
});
