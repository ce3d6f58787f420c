import { describe, expect, it } from 'vitest';
import { resolveParams, type GenerationParams } from './params.ts';
import { Sampler } from './sampler.ts';

const defaults = { maxTokens: 16, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };
const sampler = (params: GenerationParams, prompt: number[] = []) => new Sampler(resolveParams({ seed: 42, ...params }, defaults, 8), prompt);
const logits = () => Float32Array.from([2, 1.9, 1.8, 0.5, 0.1, -1, -2, -3]);
const draws = (params: GenerationParams, n = 400) => {
  const s = sampler(params);
  return new Set(Array.from({ length: n }, () => s.sample(logits())));
};

describe('sampler', () => {
  it('is greedy at temperature 0', () => {
    expect(draws({ temperature: 0 }, 20)).toEqual(new Set([0]));
  });
  it('keeps to the top k', () => {
    expect(draws({ topK: 2 })).toEqual(new Set([0, 1]));
  });
  it('keeps to the smallest set reaching top p', () => {
    // Probabilities ≈ .33 .30 .27 .07 …: 0.5 needs the first two.
    expect(draws({ topP: 0.5 })).toEqual(new Set([0, 1]));
  });
  it('drops tokens below min p of the best', () => {
    // e^(0.5-2) ≈ 0.22 of the best: kept at min p 0.2, dropped at 0.25.
    expect(draws({ minP: 0.2 })).toEqual(new Set([0, 1, 2, 3]));
    expect(draws({ minP: 0.25 })).toEqual(new Set([0, 1, 2]));
  });
  it('repeats itself for the same seed', () => {
    const a = sampler({ seed: 9 });
    const b = sampler({ seed: 9 });
    const seq = (s: Sampler) => Array.from({ length: 50 }, () => s.sample(logits()));
    expect(seq(a)).toEqual(seq(b));
  });
  it('penalises repetition of prompt and generated tokens', () => {
    const s = sampler({ temperature: 0, repetitionPenalty: 2 }, [0]);
    expect(s.sample(logits())).toBe(1); // 2/2 = 1 < 1.9
  });
  it('applies frequency and presence penalties to generated tokens', () => {
    const s = sampler({ temperature: 0, frequencyPenalty: 0.1, presencePenalty: 0.05 });
    s.accept(0);
    expect(s.sample(logits())).toBe(1); // 2 - 0.1 - 0.05 = 1.85 < 1.9
  });
});

describe('sampler distribution', () => {
  it('draws in proportion to the softmax without filters', () => {
    const s = sampler({ temperature: 1 });
    const counts = new Array(8).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[s.sample(logits())]++;
    const exp = Array.from(logits(), (l) => Math.exp(l));
    const total = exp.reduce((a, b) => a + b, 0);
    exp.forEach((e, id) => expect(Math.abs(counts[id] / n - e / total)).toBeLessThan(0.015));
  });
});
