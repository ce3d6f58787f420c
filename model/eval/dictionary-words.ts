/**
 * How much of a text is English words: its words (letters, with an inner apostrophe) found in
 * an English word list (an-array-of-english-words, 275k words). A possessive 's is dropped; a
 * contraction counts when the part before its apostrophe is a word ("won't" as "won").
 */
import words from 'an-array-of-english-words' with { type: 'json' };

const DICTIONARY = new Set(words);

export interface WordShare {
  known: number;
  total: number;
  share: number;
}

export function dictionaryWordShare(texts: readonly string[]): WordShare {
  let known = 0;
  let total = 0;
  for (const text of texts) {
    for (const raw of text.match(/[A-Za-z]+(?:'[A-Za-z]+)?/g) ?? []) {
      const word = raw.toLowerCase().replace(/'s$/, '');
      total++;
      if (DICTIONARY.has(word) || DICTIONARY.has(word.split("'")[0]!)) known++;
    }
  }
  return { known, total, share: total === 0 ? 0 : known / total };
}
