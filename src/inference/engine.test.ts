import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceForward } from '../../model/reference.ts';
import { DEFAULT_MODEL_DIR } from '../../model/index.ts';
import { AppError } from '../errors.ts';
import { InferenceEngine } from './engine.ts';
import { readModelFolder, textCodec } from './model-folder.ts';
import { cudaProviderInstalled, CUDA_INSTALL_HELP } from './ort-session.ts';
import { argmax } from './sampler.ts';
import { collect } from '../../test/support/collect.ts';
import { buildTinyModel, type TinyModel } from '../../test/support/tiny-model.ts';

let tiny: TinyModel;
let engine: InferenceEngine;
const registry = new Registry();

beforeAll(async () => {
  tiny = buildTinyModel();
  engine = await InferenceEngine.start({ modelPath: tiny.dir, maxBatchSize: 8, registry });
});
afterAll(async () => {
  await engine?.close();
  tiny?.remove();
});

const codec = () => textCodec(readModelFolder(tiny.dir).tokenizer);
const prompt = (text: string) => ({ prompt: text });

describe('inference engine on the tiny preset', () => {
  it('greedy output equals greedy decoding with the reference forward pass', async () => {
    const { encode, decode } = codec();
    const ids = encode('The quick brown fox');
    const expected: number[] = [];
    const context = [...ids];
    for (let i = 0; i < 12; i++) {
      const rows = referenceForward(tiny.weights, context);
      const next = argmax(rows.at(-1)!);
      expected.push(next);
      context.push(next);
    }
    const result = await collect(engine.generate({ input: prompt('The quick brown fox'), params: { temperature: 0, maxTokens: 12 } }));
    expect(result.done.usage).toEqual({ promptTokens: ids.length, completionTokens: expected.length });
    expect(result.text).toBe(decode(expected));
  });

  it('gives a request the same output alone and batched with 7 others joining at different steps', async () => {
    const request = { input: prompt('Alone or together, the answer'), params: { temperature: 0.9, seed: 1234, maxTokens: 40 } };
    const alone = await collect(engine.generate(request));

    const others: Promise<unknown>[] = [];
    const together = collect(engine.generate(request), (token) => {
      // Each token of the watched request lets another request in, so they join at different steps.
      if (others.length < 7 && token.index % 2 === 0) {
        const words = 'one two three four five six seven eight nine ten eleven twelve'.split(' ');
        others.push(
          collect(engine.generate({ input: prompt(words.slice(0, 2 + others.length * 3).join(' ')), params: { seed: others.length, maxTokens: 10 + others.length * 7 } })),
        );
      }
    });
    const batched = await together;
    await Promise.all(others);
    expect(others.length).toBe(7);
    expect(batched.text).toBe(alone.text);
    expect(batched.done.usage).toEqual(alone.done.usage);
  });

  it('gives the same text for the same seed, and other text for another seed', async () => {
    const run = (seed: number) => collect(engine.generate({ input: prompt('Seeded'), params: { temperature: 1, seed, maxTokens: 30 } }));
    const [a, b, c] = await Promise.all([run(5), run(5), run(6)]);
    expect(a.text).toBe(b.text);
    expect(c.text).not.toBe(a.text);
  });

  it('cuts exactly at a stop sequence, across token boundaries, without emitting it', async () => {
    const base = await collect(engine.generate({ input: prompt('Stop here'), params: { temperature: 0, maxTokens: 40 } }));
    // A stop string that straddles the boundary between two emitted pieces.
    const cutAt = base.tokens[4]!.delta.length > 1 ? 4 : 5;
    const before = base.tokens.slice(0, cutAt).map((t) => t.delta).join('');
    const stop = base.tokens[cutAt - 1]!.delta.slice(-1) + base.tokens[cutAt]!.delta.slice(0, 1);
    const expected = base.text.slice(0, base.text.indexOf(stop));
    expect(expected.length).toBeLessThanOrEqual(before.length);

    const stopped = await collect(engine.generate({ input: prompt('Stop here'), params: { temperature: 0, maxTokens: 40, stop: [stop] } }));
    expect(stopped.done.finishReason).toBe('stop');
    expect(stopped.text).toBe(expected);
    expect(stopped.text).not.toContain(stop);
  });

  it('ends a cancelled request within one step while the others finish', async () => {
    const controller = new AbortController();
    let tokensAtAbort = -1;
    const cancelled = collect(
      engine.generate({ input: prompt('Cancel me'), params: { maxTokens: 100, seed: 1 }, signal: controller.signal }),
      (token) => {
        if (token.index === 3) {
          tokensAtAbort = token.index + 1;
          controller.abort();
        }
      },
    );
    const others = [1, 2].map((seed) => collect(engine.generate({ input: prompt('Keep going'), params: { maxTokens: 30, seed } })));
    const result = await cancelled;
    expect(result.done.finishReason).toBe('cancelled');
    // Nothing is delivered after the abort, and the worker stopped well short of the limit.
    expect(result.tokens.length).toBe(tokensAtAbort);
    expect(result.done.usage.completionTokens).toBeLessThan(100);
    for (const other of await Promise.all(others)) expect(other.done).toMatchObject({ finishReason: 'length', usage: { completionTokens: 30 } });
  });

  it('truncates a prompt longer than the context window instead of failing', async () => {
    const long = 'word '.repeat(400);
    const result = await collect(engine.generate({ input: prompt(long), params: { maxTokens: 16, temperature: 0 } }));
    expect(result.done.promptTruncated).toBe(true);
    expect(result.done.usage.promptTokens).toBeLessThanOrEqual(128 - 16);
    expect(result.done.usage.completionTokens).toBe(16);

    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      ...Array.from({ length: 30 }, (_, i) => ({ role: i % 2 ? ('assistant' as const) : ('user' as const), content: `turn ${i} ${'blah '.repeat(10)}` })),
    ];
    const chat = await collect(engine.generate({ input: { messages }, params: { maxTokens: 8 } }));
    expect(chat.done.promptTruncated).toBe(true);
    expect(chat.done.droppedMessages).toBeGreaterThan(0);
    expect(chat.done.droppedMessages).toBeLessThan(30);
  });

  it('reports the finish reason `length` when the context window fills up', async () => {
    const result = await collect(engine.generate({ input: prompt('fill'), params: { maxTokens: 100_000, temperature: 0 } }));
    expect(result.done.finishReason).toBe('length');
    expect(result.done.usage.promptTokens + result.done.usage.completionTokens).toBe(128);
  });

  it('refuses bad parameters at once with BAD_USER_INPUT', () => {
    for (const params of [{ temperature: -1 }, { topP: 0 }, { topK: 1.5 }, { maxTokens: 0 }, { stop: [''] }, { seed: -3 }, { minP: 2 }]) {
      expect(() => engine.generate({ input: prompt('x'), params }), JSON.stringify(params)).toThrow(
        expect.objectContaining({ code: 'BAD_USER_INPUT' }),
      );
    }
  });

  it('counts tokens, batch sizes and time to first token in the shared registry, labelled with the model', async () => {
    const text = await registry.metrics();
    const model = `model="${engine.model.name}"`;
    expect(text).toMatch(new RegExp(`generation_tokens_total\\{${model}\\} [1-9]`));
    expect(text).toMatch(new RegExp(`generation_time_to_first_token_seconds_count\\{${model}\\} [1-9]`));
    expect(text).toMatch(new RegExp(`generation_batch_size_bucket\\{le="8",${model}\\} [1-9]`));
  });
});

describe('limits', () => {
  it('fails at once with OVERLOADED past MAX_QUEUED_REQUESTS', async () => {
    const small = await InferenceEngine.start({ modelPath: tiny.dir, maxBatchSize: 1, maxQueuedRequests: 2 });
    try {
      const long = { input: prompt('busy'), params: { maxTokens: 60 } };
      // One running (it has produced a token, so it left the queue), two waiting: the queue is full.
      let firstToken!: () => void;
      const started = new Promise<void>((resolve) => (firstToken = resolve));
      const running = [collect(small.generate(long), firstToken)];
      await started;
      running.push(collect(small.generate(long)), collect(small.generate(long)));
      const overloaded = () => small.generate(long);
      expect(overloaded).toThrow(AppError);
      expect(overloaded).toThrow(expect.objectContaining({ code: 'OVERLOADED' }));
      const results = await Promise.all(running);
      expect(results.map((r) => r.done.finishReason)).toEqual(['length', 'length', 'length']);
      // Once the queue drains there is room again.
      expect((await collect(small.generate(long))).done.finishReason).toBe('length');
    } finally {
      await small.close();
    }
  });

  it('starts on CUDA only when its provider is installed, and says how to install it otherwise', async () => {
    if (cudaProviderInstalled()) {
      const cuda = await InferenceEngine.start({ modelPath: tiny.dir, device: 'cuda' });
      expect(cuda.model.executionProvider).toBe('cuda');
      await cuda.close();
    } else {
      await expect(InferenceEngine.start({ modelPath: tiny.dir, device: 'cuda' })).rejects.toThrow(CUDA_INSTALL_HELP);
    }
  });

  it('fails to start with a clear message for a folder that is not a model', async () => {
    await expect(InferenceEngine.start({ modelPath: '/nonexistent/model' })).rejects.toThrow(/Model folder .* does not exist/);
  });
});

describe('the default model', () => {
  it('keeps the main thread responsive while 8 generations run (event-loop delay p99 < 20 ms)', async () => {
    const shipped = await InferenceEngine.start({ modelPath: DEFAULT_MODEL_DIR, maxBatchSize: 8 });
    try {
      const histogram = monitorEventLoopDelay({ resolution: 1 });
      histogram.enable();
      const runs = Array.from({ length: 8 }, (_, i) =>
        collect(shipped.generate({ input: { messages: [{ role: 'user', content: `Tell me about day ${i}.` }] }, params: { maxTokens: 80, seed: i } })),
      );
      const results = await Promise.all(runs);
      histogram.disable();
      expect(results.every((r) => r.done.usage.completionTokens > 0)).toBe(true);
      const p99 = histogram.percentile(99) / 1e6;
      expect(p99, `event-loop delay p99 ${p99.toFixed(1)} ms`).toBeLessThan(20);
    } finally {
      await shipped.close();
    }
  });
});
