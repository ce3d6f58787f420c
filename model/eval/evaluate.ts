/**
 * `npm run model -- eval`: how well a model folder does what the default model is trained for,
 * on CPU, from the corpus that build_corpus.py wrote:
 *
 * - prose: the share of dictionary words in text sampled from a few openings (temperature 0.8);
 * - questions: for `questions` trained and as many held-out words (every k-th of each file, so
 *   the same ones each run), the share of greedy answers that contain a content word of the
 *   reference definition (answers.ts); held-out words are expected to score low: reported, not
 *   a goal;
 * - validation loss per source: mean negative log-likelihood (nats/token) of each source's
 *   held-out paragraphs (every `valEvery`-th, as train.py --val-every splits them).
 *
 * Answers and prose go through the serving engine (InferenceEngine: the chat template, the
 * sampler), so the figures are what a user of the model would see.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InferenceEngine } from '../../src/inference/engine.ts';
import type { ModelDtype } from '../../src/inference/model-variants.ts';
import type { PromptInput } from '../../src/inference/prompt.ts';
import { folderPerplexity } from '../perplexity.ts';
import { sharedContentWords } from './answers.ts';
import { dictionaryWordShare, type WordShare } from './dictionary-words.ts';

export const PROSE_OPENINGS = ['The harbor', 'In the morning', 'A computer is', 'She said that', 'The history of'];
export const PROSE_SOURCES = ['gcide', 'jargon', 'foldoc', 'fortunes'] as const;

export interface EvalOptions {
  model: string;
  corpus: string;
  dtype?: ModelDtype;
  /** Questions asked per split (200). */
  questions?: number;
  /** Tokens sampled per prose opening (300). */
  proseTokens?: number;
  /** Each source's paragraphs i % valEvery == 0 are its validation text (20, as train.py). */
  valEvery?: number;
  /** At most this many validation tokens per source (20,000), to bound the CPU time. */
  valTokens?: number;
  /** Called after each question or sample, for progress. */
  onProgress?: (done: number, total: number) => void;
}

export interface QuestionResult {
  word: string;
  question: string;
  answer: string;
  /** Content words of the reference the answer contains. */
  shared: string[];
}

export interface EvalReport {
  prose: WordShare & { samples: string[] };
  trained: { asked: number; answered: number; share: number; results: QuestionResult[] };
  heldout: { asked: number; answered: number; share: number; results: QuestionResult[] };
  validationLoss: Record<string, { nll: number; tokens: number } | null>;
}

interface QaItem {
  word: string;
  question: string;
  answer: string;
}

/** Every k-th item of a JSON-lines file, `count` of them. */
export function spread(file: string, count: number): QaItem[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const step = Math.max(1, Math.floor(lines.length / count));
  return lines.filter((_, i) => i % step === 0).slice(0, count).map((line) => JSON.parse(line) as QaItem);
}

async function complete(engine: InferenceEngine, input: PromptInput, params: { maxTokens: number; temperature?: number; seed?: number }): Promise<string> {
  let text = '';
  for await (const event of engine.generate({ input, params })) {
    if (event.type === 'token') text += event.delta;
    else if (event.type === 'error') throw new Error(event.message);
  }
  return text;
}

export async function evaluateModel(options: EvalOptions): Promise<EvalReport> {
  const { model, corpus, dtype, questions = 200, proseTokens = 300, valEvery = 20, valTokens = 20_000, onProgress } = options;
  const trainedItems = spread(path.join(corpus, 'qa-train.jsonl'), questions);
  const heldoutItems = spread(path.join(corpus, 'qa-heldout.jsonl'), questions);
  const total = PROSE_OPENINGS.length + trainedItems.length + heldoutItems.length;
  let done = 0;
  const engine = await InferenceEngine.start({ modelPath: model, ...(dtype ? { dtype } : {}) });
  let prose: EvalReport['prose'];
  const ask = async (items: QaItem[]) => {
    const results: QuestionResult[] = [];
    for (const item of items) {
      // Greedy: the model's best answer, the same each run.
      const answer = await complete(engine, { messages: [{ role: 'user', content: item.question }] }, { maxTokens: 64, temperature: 0 });
      results.push({ word: item.word, question: item.question, answer, shared: sharedContentWords(answer, item.answer, item.word) });
      onProgress?.(++done, total);
    }
    const answered = results.filter((r) => r.shared.length > 0).length;
    return { asked: results.length, answered, share: results.length ? answered / results.length : 0, results };
  };
  let trained: EvalReport['trained'];
  let heldout: EvalReport['heldout'];
  try {
    const samples: string[] = [];
    for (const [i, opening] of PROSE_OPENINGS.entries()) {
      samples.push(opening + (await complete(engine, { prompt: opening }, { maxTokens: proseTokens, temperature: 0.8, seed: i + 1 })));
      onProgress?.(++done, total);
    }
    prose = { ...dictionaryWordShare(samples), samples };
    trained = await ask(trainedItems);
    heldout = await ask(heldoutItems);
  } finally {
    await engine.close();
  }

  const validationLoss: EvalReport['validationLoss'] = {};
  for (const source of PROSE_SOURCES) {
    const file = path.join(corpus, `prose-${source}.txt`);
    if (!fs.existsSync(file)) {
      validationLoss[source] = null;
      continue;
    }
    const held = fs.readFileSync(file, 'utf8').split('\n\n').filter((_, i) => i % valEvery === 0).join('\n\n');
    const result = await folderPerplexity(model, held, { ...(dtype ? { dtype } : {}), maxTokens: valTokens });
    validationLoss[source] = { nll: result.meanNll, tokens: result.tokens };
  }
  return { prose, trained, heldout, validationLoss };
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/** The report as the model card's evaluation table. */
export function evalTable(report: EvalReport): string {
  const rows = [
    ['dictionary words in sampled prose', `${percent(report.prose.share)} (${report.prose.known}/${report.prose.total})`, '≥ 98%'],
    ['trained questions answered with a word of the definition', `${percent(report.trained.share)} (${report.trained.answered}/${report.trained.asked})`, '≥ 60%'],
    ['held-out questions answered with a word of the definition', `${percent(report.heldout.share)} (${report.heldout.answered}/${report.heldout.asked})`, 'reported'],
    ...Object.entries(report.validationLoss).map(([source, loss]) => [`validation loss, ${source}`, loss ? `${loss.nll.toFixed(4)} nats/token (${loss.tokens} tokens)` : 'no text', 'reported']),
  ];
  return ['| measure | value | goal |', '| --- | --- | --- |', ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}
