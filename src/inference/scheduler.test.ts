import { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelFolder, textCodec } from './model-folder.ts';
import { resolveParams } from './params.ts';
import { PromptBuilder } from './prompt.ts';
import type { EngineEvent } from './protocol.ts';
import { Scheduler } from './scheduler.ts';
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

describe('scheduler steps', () => {
  it('ends a cancelled sequence at the next step, frees its slot, and lets the others go on', async () => {
    const model = readModelFolder(tiny.dir);
    const codec = textCodec(model.tokenizer);
    const events: { id: number; event: EngineEvent }[] = [];
    const scheduler = new Scheduler({
      session,
      io: describeSession(session),
      model,
      codec,
      prompts: new PromptBuilder(undefined, {}, codec),
      maxBatchSize: 2,
      output: { started: () => {}, events: (batch) => events.push(...batch) },
    });
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
