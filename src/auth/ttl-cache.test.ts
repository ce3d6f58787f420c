import { afterEach, describe, expect, it, vi } from 'vitest';
import { TtlCache } from './ttl-cache.ts';

describe('TtlCache', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forgets entries once they are older than the TTL', () => {
    vi.useFakeTimers();
    const cache = new TtlCache<string, string>({ maxEntries: 10, ttlMs: 1_000 });
    cache.set('a', 'x');
    vi.advanceTimersByTime(999);
    expect(cache.get('a')).toBe('x');
    vi.advanceTimersByTime(1);
    expect(cache.get('a')).toBeUndefined();
  });

  it('drops the oldest entry when full', () => {
    const cache = new TtlCache<string, number>({ maxEntries: 2, ttlMs: 60_000 });
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('a', 3); // re-setting makes `a` the newest
    cache.set('c', 4);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([3, undefined, 4]);
  });
});
