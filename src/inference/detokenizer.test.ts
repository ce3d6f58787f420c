import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../model/index.ts';
import { IncrementalDecoder } from './detokenizer.ts';
import { readModelFolder, textCodec } from './model-folder.ts';

const codec = textCodec(readModelFolder(DEFAULT_MODEL_DIR).tokenizer);

describe('streaming detokenizer', () => {
  const samples = [
    'Crème brûlée, naïve café, Ångström and façade.',
    '日本語のテキストと中文字符，还有한국어.',
    'Emoji: 🎉👩‍👩‍👧 and flags 🇫🇷🇯🇵, math ∑∫√ and arrows ⇄.',
    'Mixed: résumé 東京 🚀 done.',
  ];
  for (const text of samples) {
    it(`streams ${JSON.stringify(text.slice(0, 20))}… without U+FFFD and loses nothing`, () => {
      const ids = codec.encode(text);
      // The byte-level tokenizer splits these characters over several tokens: the case that matters.
      expect(ids.length).toBeGreaterThan([...text].length / 2);
      const decoder = new IncrementalDecoder(codec);
      const deltas = ids.map((id: number) => decoder.push(id));
      deltas.push(decoder.flush());
      for (const delta of deltas) expect(delta).not.toContain('\uFFFD');
      expect(deltas.join('')).toBe(codec.decode(ids));
      expect(deltas.join('')).toBe(text);
    });
  }

  it('holds back an incomplete character and drops it if the stream ends there', () => {
    const ids = codec.encode('ok 🎉');
    const decoder = new IncrementalDecoder(codec);
    const partial = ids.slice(0, -1).map((id: number) => decoder.push(id)).join('') + decoder.flush();
    expect(partial).not.toContain('\uFFFD');
    expect(partial.startsWith('ok')).toBe(true);
  });
});
