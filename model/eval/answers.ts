/**
 * Whether a model's answer to "what does WORD mean?" says something of the reference
 * definition: it contains one of the definition's content words (four letters or more, not a
 * function word, not the asked word itself, compared by a crude stem so that "ships" meets
 * "ship"). A loose bar on purpose: a 40M model cannot be expected to quote WordNet.
 */

// Function words and the answer template's own words ("means", "several meanings"), which any answer has.
const NOT_CONTENT = new Set(
  'about above after again against also among another because been before being below between both could does down during each either even ever every from further have having here into itself just less like made make many mean meaning meanings means more most much must neither only other over same several should some such than that their them then there these they this those though through under until upon very what when where which while whom whose will with within without would your used especially something someone usually often noun verb adjective adverb'.split(
    ' ',
  ),
);

const stem = (word: string) => word.replace(/(?:ies|es|s|ed|ing|ly)$/, '');

export function contentWords(text: string, exclude = ''): Set<string> {
  const excluded = stem(exclude.toLowerCase());
  const found = new Set<string>();
  for (const raw of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (raw.length < 4 || NOT_CONTENT.has(raw)) continue;
    const stemmed = stem(raw);
    if (stemmed !== excluded) found.add(stemmed);
  }
  return found;
}

/** The content words of `reference` that `answer` contains (none: the answer missed). */
export function sharedContentWords(answer: string, reference: string, word: string): string[] {
  const said = contentWords(answer, word);
  return [...contentWords(reference, word)].filter((w) => said.has(w));
}
