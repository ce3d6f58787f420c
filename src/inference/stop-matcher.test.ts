import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-matcher.ts';

const run = (stops: string[], pieces: string[]) => {
  const matcher = new StopMatcher(stops);
  let out = '';
  for (const piece of pieces) {
    const { emit, stopped } = matcher.push(piece);
    out += emit;
    if (stopped) return { out, stopped: true };
  }
  return { out: out + matcher.flush(), stopped: false };
};

describe('stop sequences', () => {
  it('cuts before a stop sequence split over pieces and never emits it', () => {
    expect(run(['\nUser:'], ['Hello', ' there\nUs', 'er: more'])).toEqual({ out: 'Hello there', stopped: true });
  });
  it('releases held text that turned out not to be a stop sequence', () => {
    expect(run(['END'], ['the EN', 'D', 'x'])).toEqual({ out: 'the ', stopped: true });
    expect(run(['END'], ['the EN', 'TRY'])).toEqual({ out: 'the ENTRY', stopped: false });
  });
  it('picks the earliest of several stop sequences', () => {
    expect(run(['bb', 'a'], ['xxbba'])).toEqual({ out: 'xx', stopped: true });
  });
  it('passes everything through without stop sequences', () => {
    expect(run([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
});
