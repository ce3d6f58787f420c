import { describe, expect, it } from 'vitest';
import { InferenceEngine } from './engine.ts';
import { buildTinyModel } from '../../test/support/tiny-model.ts';

describe('a long generation whose reader pauses', () => {
  it('keeps every event for the reader, past the 1,024 that may wait unbuffered', async () => {
    const tiny = buildTinyModel(11, 1400);
    const engine = await InferenceEngine.start({ modelPath: tiny.dir, maxBatchSize: 1 });
    try {
      const events = engine.generate({ input: { prompt: 'a' }, params: { maxTokens: 1300, temperature: 0 } })[Symbol.asyncIterator]();
      const received = [(await events.next()).value];
      // The reader pauses while the engine makes the rest (the tiny model runs hundreds of steps a second).
      await new Promise((resolve) => setTimeout(resolve, 4000));
      for (let next = await events.next(); !next.done; next = await events.next()) received.push(next.value);
      const done = received.at(-1)!;
      expect(done).toMatchObject({ type: 'done', finishReason: 'length', usage: { completionTokens: 1300 } });
      // One event per piece of text (a token that ends no character adds none), numbered without a gap.
      const pieces = received.filter((event) => event.type === 'token');
      expect(pieces.length).toBeGreaterThan(1024);
      expect(pieces.map((event) => event.index)).toEqual(pieces.map((_, i) => i));
    } finally {
      await engine.close();
      tiny.remove();
    }
  }, 30_000);
});
