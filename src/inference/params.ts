/**
 * Generation parameters as clients send them, and their validation into the fully resolved
 * form the sampler uses. Out-of-range values are BAD_USER_INPUT naming the parameter.
 */
import { badInput } from '../errors.ts';
import { MAX_TOP_LOGPROBS } from './logprobs.ts';

export interface GenerationParams {
  maxTokens?: number | null;
  minTokens?: number | null;
  temperature?: number | null;
  topK?: number | null;
  topP?: number | null;
  minP?: number | null;
  repetitionPenalty?: number | null;
  frequencyPenalty?: number | null;
  presencePenalty?: number | null;
  seed?: number | null;
  stop?: readonly string[] | null;
  /** Report each token's log-probability and this many alternatives (0–20); unset: none computed. */
  logprobs?: number | null;
}

export interface ResolvedParams {
  maxTokens: number;
  /** End-of-sequence tokens are not sampled before this many tokens (transformers' min_new_tokens). */
  minTokens: number;
  /** 0 means greedy. */
  temperature: number;
  /** 0 means off. */
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  seed: number;
  stop: string[];
  /** Alternatives per token to report with its log-probability; undefined: no log-probabilities. */
  logprobs?: number;
}

export const LIMITS = {
  maxStopSequences: 8,
  maxStopLength: 256,
  maxTemperature: 2,
  maxRepetitionPenalty: 10,
  maxAbsPenalty: 2,
} as const;

/** Defaults of a model folder's generation_config.json, overridden per request. */
export interface ModelDefaults {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
}

function inRange(name: string, value: number, min: number, max: number, { integer = false, minExclusive = false } = {}) {
  const tooLow = minExclusive ? value <= min : value < min;
  if (!Number.isFinite(value) || tooLow || value > max || (integer && !Number.isInteger(value))) {
    const lower = minExclusive ? `greater than ${min}` : `at least ${min}`;
    throw badInput(`${name} must be ${integer ? 'an integer ' : ''}${lower} and at most ${max}`, { argument: name });
  }
  return value;
}

export function resolveParams(params: GenerationParams, defaults: ModelDefaults, vocabSize: number): ResolvedParams {
  const pick = <T>(value: T | null | undefined, fallback: T): T => (value === null || value === undefined ? fallback : value);
  const stop = pick(params.stop, []);
  if (stop.length > LIMITS.maxStopSequences) {
    throw badInput(`stop takes at most ${LIMITS.maxStopSequences} sequences`, { argument: 'stop' });
  }
  for (const sequence of stop) {
    if (sequence.length === 0 || sequence.length > LIMITS.maxStopLength) {
      throw badInput(`each stop sequence must be 1 to ${LIMITS.maxStopLength} characters`, { argument: 'stop' });
    }
  }
  return {
    maxTokens: inRange('maxTokens', pick(params.maxTokens, defaults.maxTokens), 1, 1_000_000, { integer: true }),
    minTokens: inRange('minTokens', pick(params.minTokens, 0), 0, 1_000_000, { integer: true }),
    temperature: inRange('temperature', pick(params.temperature, defaults.temperature), 0, LIMITS.maxTemperature),
    topK: inRange('topK', pick(params.topK, defaults.topK), 0, vocabSize, { integer: true }),
    topP: inRange('topP', pick(params.topP, defaults.topP), 0, 1, { minExclusive: true }),
    minP: inRange('minP', pick(params.minP, 0), 0, 1),
    repetitionPenalty: inRange('repetitionPenalty', pick(params.repetitionPenalty, defaults.repetitionPenalty), 0, LIMITS.maxRepetitionPenalty, {
      minExclusive: true,
    }),
    frequencyPenalty: inRange('frequencyPenalty', pick(params.frequencyPenalty, 0), -LIMITS.maxAbsPenalty, LIMITS.maxAbsPenalty),
    presencePenalty: inRange('presencePenalty', pick(params.presencePenalty, 0), -LIMITS.maxAbsPenalty, LIMITS.maxAbsPenalty),
    seed: inRange('seed', pick(params.seed, Math.floor(Math.random() * 2 ** 31)), 0, 2 ** 32 - 1, { integer: true }),
    stop: [...stop],
    ...(params.logprobs === null || params.logprobs === undefined ? {} : { logprobs: inRange('logprobs', params.logprobs, 0, MAX_TOP_LOGPROBS, { integer: true }) }),
  };
}
