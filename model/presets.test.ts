import { describe, expect, it } from 'vitest';
import { elementCount, parameterCount, PRESETS, preset, tensorShapes } from './presets.ts';

describe('presets', () => {
  it('124m has exactly GPT-2 small\'s parameter count', () => {
    expect(parameterCount(preset('124m'))).toBe(124_439_808);
  });

  it('the closed-form count equals the sum over every tensor, for every preset', () => {
    for (const [name, c] of Object.entries(PRESETS)) {
      let total = 0;
      for (const shape of tensorShapes(c).values()) total += elementCount(shape);
      expect(total, name).toBe(parameterCount(c));
    }
  });

  it('spans 10M to over 2B parameters', () => {
    expect(parameterCount(preset('10m'))).toBeGreaterThanOrEqual(10_000_000);
    expect(parameterCount(preset('10m'))).toBeLessThan(11_000_000);
    expect(parameterCount(preset('2.7b'))).toBeGreaterThan(2_000_000_000);
    expect(preset('small')).toMatchObject({ layers: 6, heads: 6, width: 384, context: 512 });
  });

  it('rejects an unknown size', () => {
    expect(() => preset('7b')).toThrow(/unknown size/);
  });
});
