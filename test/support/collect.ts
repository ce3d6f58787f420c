import type { DoneEvent, EngineEvent, TokenEvent } from '../../src/inference/protocol.ts';

export interface Collected {
  text: string;
  tokens: TokenEvent[];
  done: DoneEvent;
}

/** Reads a generation to its end; fails on an error event. */
export async function collect(events: AsyncIterable<EngineEvent>, onToken?: (event: TokenEvent) => void): Promise<Collected> {
  const tokens: TokenEvent[] = [];
  for await (const event of events) {
    if (event.type === 'token') {
      tokens.push(event);
      onToken?.(event);
    } else if (event.type === 'error') throw new Error(event.message);
    else return { text: tokens.map((t) => t.delta).join(''), tokens, done: event };
  }
  throw new Error('generation ended without a final event');
}
