/** Stream events for tests and benchmarks that play a worker's part without a model. */
import type { StreamEvent } from '../../src/streams/events.ts';

/** The terminal event of a generation whose tokens were numbered 1 … index − 1. */
export const completedEvent = (index: number): StreamEvent => ({
  kind: 'completed',
  index,
  messageId: null,
  text: '',
  usage: { promptTokens: 1, completionTokens: index - 1 },
  finishReason: 'length',
  timings: { queueSeconds: 0, timeToFirstTokenSeconds: 0, tokensPerSecond: 0 },
  model: 'm',
  cached: false,
});
