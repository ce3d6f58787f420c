import { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelFolder, textCodec } from './model-folder.ts';
import { resolveParams } from './params.ts';
import { PromptBuilder } from './prompt.ts';
import type { EngineEvent } from './protocol.ts';
import { Scheduler, promptRun } from './scheduler.ts';
import { describeSession } from './session-io.ts';
import { buildTinyModel, type TinyModel } from '../../test/support/tiny-model.ts';

let tiny: TinyModel;
let session: InferenceSession;
beforeAll(async () => {
  tiny = buildTinyModel();
  session = await InferenceSession.create(readModelFolder(tiny.dir).onnxPath);
});
afterAll(async () => {
  await session.release();
  tiny.remove();
});

/** A scheduler of batches of 2 on the tiny model, run on `on`, and the events it emits. */
function schedulerOn(on: InferenceSession) {
  const model = readModelFolder(tiny.dir);
  const codec = textCodec(model.tokenizer);
  const events: { id: number; event: EngineEvent }[] = [];
  const scheduler = new Scheduler({
    session: on,
    io: describeSession(session),
    model,
    codec,
    prompts: new PromptBuilder(undefined, {}, codec),
    maxBatchSize: 2,
    output: { started: () => {}, events: (batch) => events.push(...batch) },
  });
  return { model, codec, scheduler, events };
}

describe('scheduler steps', () => {
  it('ends a cancelled sequence at the next step, frees its slot, and lets the others go on', async () => {
    const { model, scheduler, events } = schedulerOn(session);
    const params = resolveParams({ maxTokens: 50, seed: 1 }, model.defaults, model.vocabSize);
    for (const id of [1, 2, 3]) scheduler.submit({ id, input: { prompt: `request ${id}` }, params, enqueuedAt: Date.now() });

    await scheduler.step(); // 1 and 2 admitted (batch of 2), 3 waits
    await scheduler.step();
    scheduler.cancel(1);
    const before = events.length;
    await scheduler.step();
    const thisStep = events.slice(before);
    expect(thisStep.filter((e) => e.id === 1).map((e) => e.event.type)).toEqual(['done']);
    expect(thisStep.find((e) => e.id === 1)!.event).toMatchObject({ finishReason: 'cancelled' });
    // The freed slot went to request 3 in the same step, and 2 kept decoding.
    expect(thisStep.some((e) => e.id === 3 && e.event.type === 'token')).toBe(true);
    expect(thisStep.some((e) => e.id === 2 && e.event.type === 'token')).toBe(true);
    while (!scheduler.idle) await scheduler.step();
    const finished = events.filter((e) => e.event.type === 'done').map((e) => [e.id, (e.event as { finishReason: string }).finishReason]);
    expect(finished).toEqual([
      [1, 'cancelled'],
      [2, 'length'],
      [3, 'length'],
    ]);
  });
});

describe('a failed decode step', () => {
  it('fails the running sequences, saying what each had used', async () => {
    // The real session, made to fail from a chosen run on: the fault a broken kernel or an
    // exhausted device gives.
    let failing = false;
    const faulty = new Proxy(session, {
      get: (target, name, receiver) =>
        name === 'run' ? (...args: Parameters<InferenceSession['run']>) => (failing ? Promise.reject(new Error('device lost')) : target.run(...args)) : Reflect.get(target, name, receiver),
    });
    const { model, codec, scheduler, events } = schedulerOn(faulty);
    const params = resolveParams({ maxTokens: 50, minTokens: 50, seed: 1 }, model.defaults, model.vocabSize);
    scheduler.submit({ id: 1, input: { prompt: 'a prompt of some words' }, params, enqueuedAt: Date.now() });
    for (let i = 0; i < 4; i++) await scheduler.step();
    failing = true;
    await scheduler.step();
    const failure = events.find((e) => e.event.type === 'error')?.event as Extract<EngineEvent, { type: 'error' }>;
    expect(failure).toMatchObject({ type: 'error', message: 'device lost' });
    // Every token streamed before the failure is in the usage (a piece of text can take several).
    const streamed = events.filter((e) => e.event.type === 'token').length;
    expect(streamed).toBeGreaterThan(0);
    expect(failure.usage!.completionTokens).toBeGreaterThanOrEqual(streamed);
    expect(failure.usage!.promptTokens).toBeGreaterThanOrEqual(codec.encode('a prompt of some words').length);
  });
});

describe('promptRun', () => {
  it('reads a prompt within the budget, never leaving a single token for a later run nor taking one alone after others', () => {
    /** The runs a prompt of `length` tokens is read in, from `cached` on, `budget` per step. */
    const runs = (length: number, budget: number, cached = 0) => {
      const out: number[] = [];
      for (let done = cached; done < length; ) {
        const take = promptRun(length - done, budget, done > 0);
        out.push(take);
        done += take;
      }
      return out;
    };
    expect(runs(100, Infinity)).toEqual([100]);
    expect(runs(1, 32)).toEqual([1]);
    expect(runs(65, 32)).toEqual([32, 31, 2]);
    expect(runs(33, 32)).toEqual([31, 2]);
    expect(runs(3, 2)).toEqual([3]);
    expect(runs(5, 1, 2)).toEqual([3]);
    expect(runs(6, 1, 2)).toEqual([2, 2]);
    for (let length = 1; length < 80; length++) {
      for (const budget of [1, 2, 3, 16, 32]) {
        for (const cached of [0, 16, 32]) {
          if (cached > length - 2) continue;
          const taken = runs(length, budget, cached);
          expect(taken.reduce((a, b) => a + b, cached)).toBe(length);
          // Only a run from nothing cached (its past is empty) may be a single token.
          taken.forEach((take, i) => expect(take > 1 || (i === 0 && cached === 0)).toBe(true));
          expect(length - cached - taken.slice(0, -1).reduce((a, b) => a + b, 0)).not.toBe(1);
        }
      }
    }
  });
});
