/**
 * Perplexity of a model folder's variant over a text: exp(mean negative log-likelihood per
 * token), run through ONNX Runtime exactly as the variant is served.
 *
 * Text → tokens as the trainer makes its stream (model/train/train.py, `load_ids`): the text
 * is split into paragraphs at blank lines, each is encoded on its own and followed by
 * `<|endoftext|>`, and the paragraphs are concatenated. Every token after the first is a
 * target, predicted from the tokens before it.
 *
 * A stream longer than the context is read in sliding windows (see `perplexityWindows`): each
 * window is at most `context` tokens and starts `stride` tokens after the previous one, and
 * scores only the targets that no earlier window has scored, so each target counts once. With
 * `stride = context` the windows do not overlap and a target's context runs from 1 to
 * `context` tokens (what the trainer's random windows average over); a smaller stride gives
 * every target after the first window at least `context − stride + 1` tokens of context, for
 * a lower figure at `context / stride` times the cost.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelDtype } from '../src/inference/model-variants.ts';
import { GptSession } from './session.ts';

export interface Window {
  /** The window's input is ids[start, end). */
  start: number;
  end: number;
  /** Targets ids[firstTarget..lastTarget] are scored here (from logits at positions target − 1). */
  firstTarget: number;
  lastTarget: number;
}

/**
 * Windows that score each of targets 1..length−1 exactly once. The window starting at `start`
 * reads ids[start, start + context) and can score targets start + 1 up to start + context (the
 * logits at its last position predict the token just after it).
 */
export function perplexityWindows(length: number, context: number, stride: number): Window[] {
  if (!Number.isInteger(context) || context < 1) throw new RangeError(`context must be a positive integer, not ${context}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > context) throw new RangeError(`stride must be an integer in 1..${context}, not ${stride}`);
  const windows: Window[] = [];
  let scored = 0; // targets 1..scored are done
  for (let start = 0; scored < length - 1; start += stride) {
    const lastTarget = Math.min(start + context, length - 1);
    if (lastTarget <= scored) continue;
    windows.push({ start, end: Math.min(start + context, length), firstTarget: scored + 1, lastTarget });
    scored = lastTarget;
  }
  return windows;
}

/** −log softmax(row)[target], in float64. */
export function negativeLogLikelihood(row: ArrayLike<number>, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return Math.log(sum) + max - row[target]!;
}

/** The trainer's token stream for `text`: each blank-line-separated paragraph encoded, then EOS. */
export function tokenStream(tokenizer: Tokenizer, text: string, eosToken = '<|endoftext|>'): number[] {
  const eos = tokenizer.token_to_id(eosToken);
  if (eos === undefined) throw new Error(`the tokenizer has no ${eosToken}`);
  const ids: number[] = [];
  for (const paragraph of text.split('\n\n')) {
    if (!paragraph.trim()) continue;
    ids.push(...tokenizer.encode(paragraph.trim(), { add_special_tokens: false }).ids, eos);
  }
  return ids;
}

export interface PerplexityOptions {
  /** Window length; at most the model's context, which is the default. */
  context?: number;
  /** Tokens between window starts; default context / 2. */
  stride?: number;
  /** Called after each window with the targets scored so far and in all. */
  onProgress?: (scored: number, total: number) => void;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood, nats per token. */
  meanNll: number;
  /** Targets scored: the stream's length − 1. */
  tokens: number;
  windows: number;
  context: number;
  stride: number;
}

export async function sessionPerplexity(session: GptSession, ids: readonly number[], opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const context = opts.context ?? session.config.context;
  if (context > session.config.context) throw new RangeError(`context ${context} is longer than the model's ${session.config.context}`);
  const stride = opts.stride ?? Math.max(1, Math.floor(context / 2));
  if (ids.length < 2) throw new RangeError('perplexity needs at least two tokens');
  const windows = perplexityWindows(ids.length, context, stride);
  const { vocab } = session.config;
  let total = 0;
  for (const w of windows) {
    const { logits } = await session.step(ids.slice(w.start, w.end));
    for (let t = w.firstTarget; t <= w.lastTarget; t++) {
      const p = t - 1 - w.start;
      total += negativeLogLikelihood(logits.subarray(p * vocab, (p + 1) * vocab), ids[t]!);
    }
    opts.onProgress?.(w.lastTarget, ids.length - 1);
  }
  const tokens = ids.length - 1;
  const meanNll = total / tokens;
  return { perplexity: Math.exp(meanNll), meanNll, tokens, windows: windows.length, context, stride };
}

export interface FolderPerplexityOptions extends PerplexityOptions {
  dtype?: ModelDtype;
  /** Only the stream's first N tokens (quick checks). */
  maxTokens?: number;
}

/** Perplexity of `dir`'s `dtype` variant (default onnx/model.onnx) on `text`, tokenized with the folder's tokenizer.json. */
export async function folderPerplexity(dir: string, text: string, opts: FolderPerplexityOptions = {}): Promise<PerplexityResult> {
  const tokenizer = new Tokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), {});
  let ids = tokenStream(tokenizer, text);
  if (opts.maxTokens !== undefined) ids = ids.slice(0, opts.maxTokens);
  const session = await GptSession.fromFolder(dir, {}, opts.dtype);
  try {
    return await sessionPerplexity(session, ids, opts);
  } finally {
    await session.release();
  }
}
