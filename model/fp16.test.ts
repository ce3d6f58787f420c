import { describe, expect, it } from 'vitest';
import { floatToHalf, fromHalf, halfToFloat, toHalf } from './fp16.ts';

describe('fp16', () => {
  it('encodes known values bit-exactly', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(2 ** -24)).toBe(0x0001);
    // Ties round to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });

  it('round-trips within half precision', () => {
    const xs = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const back = fromHalf(toHalf(xs));
    xs.forEach((x, i) => expect(Math.abs(back[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -25));
    expect(halfToFloat(0x7c00)).toBe(Infinity);
  });
});
