import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { GptSession, temperatureSampler } from './session.ts';
import { folderPerplexity, tokenStream } from './perplexity.ts';
import { seededRandom } from './weights.ts';
import { dictionaryWordShare } from './eval/dictionary-words.ts';

const dir = fileURLToPath(new URL('./default', import.meta.url));

interface Fixture {
  input_ids: number[];
  column_stride: number;
  logits_strided: number[][];
  last_logits: number[];
}

describe('the shipped default model', () => {
  it('reproduces the trainer\'s PyTorch logits within 1e-3', async () => {
    const fx = JSON.parse(readFileSync(`${dir}/parity.fixture.json`, 'utf8')) as Fixture;
    const s = await GptSession.fromFolder(dir);
    const V = s.config.vocab;
    const { logits } = await s.step(fx.input_ids);
    let worst = 0;
    fx.logits_strided.forEach((row, p) => {
      row.forEach((want, k) => (worst = Math.max(worst, Math.abs(logits[p * V + k * fx.column_stride]! - want))));
    });
    fx.last_logits.forEach((want, v) => (worst = Math.max(worst, Math.abs(logits[(fx.input_ids.length - 1) * V + v]! - want))));
    console.log(`parity with PyTorch: max |Δlogit| = ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-3);
    await s.release();
  });

  it('writes mostly English words: at least 60% of 5×300 sampled tokens\' words are in a dictionary', async () => {
    const tok = new Tokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), {});
    const s = await GptSession.fromFolder(dir);
    const prompts = ['In the beginning', 'The king said to', 'Then Jesus answered', 'Blessed are those who', 'The people of the city'];
    const samples: string[] = [];
    for (const [i, prompt] of prompts.entries()) {
      const out = await s.generate(tok.encode(prompt).ids, 300, temperatureSampler(0.8, seededRandom(i + 1)));
      expect(out.length).toBe(300);
      samples.push(tok.decode(out));
    }
    const { known, total, share } = dictionaryWordShare(samples);
    console.log(`dictionary words: ${known}/${total} = ${(share * 100).toFixed(1)}%`);
    expect(total).toBeGreaterThan(500);
    expect(share).toBeGreaterThanOrEqual(0.6);
    await s.release();
  });

  it("validation.txt is the trainer's held-out split: its token stream is as long as train-summary.json's val_tokens", () => {
    const summary = JSON.parse(readFileSync(`${dir}/train-summary.json`, 'utf8')) as { val_tokens: number };
    const tok = new Tokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), {});
    expect(tokenStream(tok, readFileSync(`${dir}/validation.txt`, 'utf8')).length).toBe(summary.val_tokens);
  });

  it('the shipped q4 variant keeps perplexity on held-out text within 10% of the float model', async () => {
    const text = readFileSync(`${dir}/validation.txt`, 'utf8');
    const opts = { maxTokens: 1536, stride: 128 };
    const fp32 = await folderPerplexity(dir, text, { ...opts, dtype: 'fp32' });
    const q4 = await folderPerplexity(dir, text, { ...opts, dtype: 'q4' });
    console.log(`perplexity on ${fp32.tokens} validation tokens: fp32 ${fp32.perplexity.toFixed(2)}, q4 ${q4.perplexity.toFixed(2)} (${(q4.perplexity / fp32.perplexity).toFixed(3)}×)`);
    expect(fp32.perplexity).toBeGreaterThan(10);
    expect(fp32.perplexity).toBeLessThan(40);
    expect(q4.perplexity / fp32.perplexity).toBeLessThan(1.1);
  });
});
