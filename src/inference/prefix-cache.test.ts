import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../../test/support/collect.ts';
import { buildTinyModel, type TinyModel } from '../../test/support/tiny-model.ts';
import { InferenceEngine } from './engine.ts';
import type { GenerationParams } from './params.ts';
import type { ChatMessage } from './prompt.ts';
import { BLOCK_TOKENS, PrefixCache } from './prefix-cache.ts';
import { KvSlots } from './kv-slots.ts';
import { STUB_SESSION_IO as io } from '../../test/support/session-io.ts';
import { fromHalf, toHalf } from '../../model/fp16.ts';

// tiny: 2 layers × key and value, 2 heads of 32 dims, float32: bytes of one cached block.
const BLOCK_BYTES = 2 * 2 * 2 * BLOCK_TOKENS * 32 * 4;

let tiny: TinyModel;
const engines: Record<'off' | 'on' | 'small' | 'half', InferenceEngine | undefined> = { off: undefined, on: undefined, small: undefined, half: undefined };
const registry = new Registry();
const halfRegistry = new Registry();
beforeAll(async () => {
  // A context of 600 positions leaves room for conversations of several turns.
  tiny = buildTinyModel(21, 600);
  const start = (prefixCacheBytes: number, metrics?: Registry, kvCacheDtype?: 'fp16') =>
    InferenceEngine.start({ modelPath: tiny.dir, maxBatchSize: 4, intraOpThreads: 1, prefixCacheBytes, registry: metrics, kvCacheDtype });
  engines.off = await start(0);
  engines.half = await start(64 * 2 ** 20, halfRegistry, 'fp16');
  engines.on = await start(64 * 2 ** 20);
  engines.small = await start(6 * BLOCK_BYTES, registry);
});
afterAll(async () => {
  await Promise.all(Object.values(engines).map((e) => e?.close()));
  tiny?.remove();
});

const WORDS = 'the a river stone light under over quietly seven blue answer question why how old new'.split(' ');
const text = fc.array(fc.constantFrom(...WORDS), { minLength: 3, maxLength: 12 }).map((w) => w.join(' '));
const params: fc.Arbitrary<GenerationParams> = fc.oneof(
  fc.record({ temperature: fc.constant(0), maxTokens: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ temperature: fc.constant(0.9), seed: fc.nat(1000), maxTokens: fc.integer({ min: 1, max: 12 }) }),
);
interface Conversation {
  system: string;
  turns: { user: string; params: GenerationParams }[];
  regenerate: boolean;
}
const conversation: fc.Arbitrary<Conversation> = fc.record({ system: text, turns: fc.array(fc.record({ user: text, params }), { minLength: 2, maxLength: 4 }), regenerate: fc.boolean() });

/** Plays a conversation on `engine`: each turn's prompt is the whole history; returns every reply and how many prompt tokens came from the cache. */
async function play(engine: InferenceEngine, c: Conversation) {
  const messages: ChatMessage[] = [{ role: 'system', content: c.system }];
  const replies: string[] = [];
  const cached: number[] = [];
  for (const turn of c.turns) {
    messages.push({ role: 'user', content: turn.user });
    const ask = () => collect(engine.generate({ input: { messages: [...messages] }, params: turn.params }));
    let result = await ask();
    // Regenerate: the same prompt again, all of it but its last token in the cache.
    if (c.regenerate) {
      replies.push(result.text);
      cached.push(result.done.cachedPromptTokens);
      result = await ask();
    }
    replies.push(result.text);
    cached.push(result.done.cachedPromptTokens);
    messages.push({ role: 'assistant', content: result.text });
  }
  return { replies, cached };
}

describe('the prefix cache', () => {
  it('gives every turn of random conversations the replies it gives without the cache, alone and two at a time', async () => {
    let hits = 0;
    await fc.assert(
      fc.asyncProperty(conversation, conversation, async (a, b) => {
        const without = [await play(engines.off!, a), await play(engines.off!, b)];
        const alone = await play(engines.on!, a);
        const together = await Promise.all([play(engines.on!, a), play(engines.on!, b)]);
        expect(alone.replies).toEqual(without[0]!.replies);
        expect(together.map((t) => t.replies)).toEqual(without.map((w) => w.replies));
        expect(without.flatMap((w) => w.cached).every((n) => n === 0)).toBe(true);
        hits += [...alone.cached, ...together.flatMap((t) => t.cached)].filter((n) => n > 0).length;
      }),
      { numRuns: 12 },
    );
    // Later turns start with the earlier ones: most of them found blocks.
    expect(hits).toBeGreaterThan(12);
  });

  it('restores whole blocks and always computes the prompt\'s last two tokens', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: WORDS.join(' ').repeat(3) }];
    const first = await collect(engines.on!.generate({ input: { messages }, params: { temperature: 0, maxTokens: 4 } }));
    const again = await collect(engines.on!.generate({ input: { messages }, params: { temperature: 0, maxTokens: 4 } }));
    const prompt = first.done.usage.promptTokens;
    expect(again.done.cachedPromptTokens).toBe(Math.floor((prompt - 2) / BLOCK_TOKENS) * BLOCK_TOKENS);
    expect(again.done.cachedPromptTokens).toBeGreaterThan(0);
    expect(again.text).toBe(first.text);
  });

  it('stays within a small PREFIX_CACHE_BYTES by evicting, with replies unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(conversation, async (c) => {
        expect((await play(engines.small!, c)).replies).toEqual((await play(engines.off!, c)).replies);
        const metrics = await registry.getMetricsAsJSON();
        const value = (name: string) => metrics.find((m) => m.name === name)!.values[0]!.value;
        expect(value('prefix_cache_bytes')).toBeLessThanOrEqual(6 * BLOCK_BYTES);
      }),
      { numRuns: 8 },
    );
    const metrics = await registry.getMetricsAsJSON();
    const value = (name: string) => metrics.find((m) => m.name === name)!.values[0]!.value;
    expect(value('prefix_cache_evictions_total')).toBeGreaterThan(0);
    expect(value('prefix_cache_hit_tokens_total')).toBeGreaterThan(0);
    expect(value('prefix_cache_miss_tokens_total')).toBeGreaterThan(0);
  });
});

describe('KV_CACHE_DTYPE=fp16', () => {
  it('keeps blocks in half the bytes and restores them as their float16 rounding', () => {
    const slots = new KvSlots(io, 2, 64);
    const row0 = slots.views(0, 1)[0]!.data as Float32Array;
    row0.forEach((_, i) => (row0[i] = Math.sin(i) * 3.3));
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    const [full, half] = [new PrefixCache(1 << 20), new PrefixCache(1 << 20, 'fp16')];
    for (const cache of [full, half]) cache.store(ids, 32, slots, 0);
    expect(half.bytes).toBe(full.bytes / 2);
    expect(half.restore(ids, slots, 1)).toBe(32);
    const capacity = slots.positions;
    const row1 = slots.views(1, 1)[0]!.data as Float32Array;
    for (let h = 0; h < 2; h++) {
      const cached = row0.subarray(h * capacity * 3, (h * capacity + 32) * 3);
      expect(Array.from(row1.subarray(h * capacity * 3, (h * capacity + 32) * 3))).toEqual(Array.from(fromHalf(toHalf(cached))));
    }
  });

  it('serves a repeated prompt from float16 blocks through the engine', async () => {
    const messages: ChatMessage[] = [{ role: 'user', content: WORDS.join(' ').repeat(3) }];
    const first = await collect(engines.half!.generate({ input: { messages }, params: { temperature: 0, maxTokens: 6 } }));
    const again = await collect(engines.half!.generate({ input: { messages }, params: { temperature: 0, maxTokens: 6 } }));
    expect(again.done.cachedPromptTokens).toBe(Math.floor((first.done.usage.promptTokens - 2) / BLOCK_TOKENS) * BLOCK_TOKENS);
    expect(again.done.usage.completionTokens).toBe(6);
    const bytes = (await halfRegistry.getMetricsAsJSON()).find((m) => m.name === 'prefix_cache_bytes')!.values[0]!.value;
    // The prompt's full blocks, each in half the bytes of a float32 block.
    expect(bytes).toBe(Math.floor(first.done.usage.promptTokens / BLOCK_TOKENS) * (BLOCK_BYTES / 2));
  });
});
