/**
 * The evaluation (`npm run model -- eval`): its scoring of answers and prose, and a run on the
 * shipped model over a small corpus laid out as build_corpus.py writes it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../default-dir.ts';
import { folderPerplexity } from '../perplexity.ts';
import { sharedContentWords } from './answers.ts';
import { dictionaryWordShare } from './dictionary-words.ts';
import { evalTable, evaluateModel, spread, type EvalReport } from './evaluate.ts';

describe('scoring', () => {
  const reference = 'Harbor has several meanings. 1. (noun) a sheltered port where ships can take on or discharge cargo. 2. (verb) secretly shelter (as of fugitives or criminals).';

  it('counts an answer that says a content word of the definition, by stem', () => {
    expect(sharedContentWords('A harbor is where a ship stays, sheltered from the storm.', reference, 'harbor').sort()).toEqual(['ship', 'shelter'].sort());
    expect(sharedContentWords('It is a port.', reference, 'harbor')).toEqual(['port']);
  });

  it('does not count the asked word, function words, or the template\'s own words', () => {
    expect(sharedContentWords('Harbor means something about harbors; it has several meanings as a noun or a verb.', reference, 'harbor')).toEqual([]);
    expect(sharedContentWords('', reference, 'harbor')).toEqual([]);
  });

  it('counts dictionary words, possessives and contractions by their stem', () => {
    expect(dictionaryWordShare(["The king's harbor won't xqzzt"])).toEqual({ known: 4, total: 5, share: 0.8 });
    expect(dictionaryWordShare([''])).toEqual({ known: 0, total: 0, share: 0 });
  });
});

describe('a run on the shipped model', () => {
  let corpus: string;
  let report: EvalReport;
  const gcide = ['Harbor: A portion of a sea, a lake, or other large body of water.', 'zzq vvk qqx', 'xxj qpq zzv', 'Anchor: An iron instrument which holds a ship in its place.'];
  const qa = (word: string, question: string, answer: string) => JSON.stringify({ word, question, answer, senses: 1, text: '' });

  beforeAll(async () => {
    corpus = fs.mkdtempSync(path.join(os.tmpdir(), 'gptql-eval-'));
    fs.writeFileSync(path.join(corpus, 'qa-train.jsonl'), [qa('harbor', 'What does harbor mean?', 'Harbor means a sheltered port.'), qa('anchor', 'Define anchor.', 'Anchor means a device that holds a ship.'), qa('mast', 'What does mast mean?', 'Mast means a pole on a ship.')].join('\n') + '\n');
    fs.writeFileSync(path.join(corpus, 'qa-heldout.jsonl'), qa('wharf', 'What does wharf mean?', 'Wharf means a landing place for ships.') + '\n');
    fs.writeFileSync(path.join(corpus, 'prose-gcide.txt'), gcide.join('\n\n') + '\n');
    report = await evaluateModel({ model: DEFAULT_MODEL_DIR, corpus, questions: 2, proseTokens: 24, valEvery: 3, valTokens: 500 });
  }, 120_000);
  afterAll(() => fs.rmSync(corpus, { recursive: true, force: true }));

  it('asks the spread of questions it says, and scores each answer', () => {
    expect(spread(path.join(corpus, 'qa-train.jsonl'), 2).map((item) => item.word)).toEqual(['harbor', 'anchor']);
    expect(report.trained.results.map((r) => r.word)).toEqual(['harbor', 'anchor']);
    expect(report.heldout.results.map((r) => r.word)).toEqual(['wharf']);
    for (const result of [...report.trained.results, ...report.heldout.results]) {
      expect(result.answer.length).toBeGreaterThan(0);
      expect(result.shared).toEqual(sharedContentWords(result.answer, { harbor: 'Harbor means a sheltered port.', anchor: 'Anchor means a device that holds a ship.', wharf: 'Wharf means a landing place for ships.' }[result.word]!, result.word));
    }
    expect(report.trained.share).toBe(report.trained.answered / report.trained.asked);
  });

  it('scores the prose it sampled, one sample per opening', () => {
    expect(report.prose.samples).toHaveLength(5);
    const { known, total } = dictionaryWordShare(report.prose.samples);
    expect(report.prose).toMatchObject({ known, total });
    expect(total).toBeGreaterThan(50);
  });

  it('takes the validation loss over each source\'s held-out paragraphs only, and says which sources have none', async () => {
    // Paragraphs 0 and 3 of 4 (valEvery 3): English, not the made-up words between them.
    const held = await folderPerplexity(DEFAULT_MODEL_DIR, [gcide[0], gcide[3]].join('\n\n'), { maxTokens: 500 });
    expect(report.validationLoss.gcide!.nll).toBeCloseTo(held.meanNll, 6);
    expect(report.validationLoss.jargon).toBeNull();
    expect(evalTable(report)).toMatch(/\| validation loss, gcide \| \d\.\d{4} nats\/token/);
  });
});
