/** Messages between the main thread (engine.ts) and the inference worker (worker.ts). */
import type { ResolvedParams } from './params.ts';
import type { PromptInput } from './prompt.ts';

export type FinishReason = 'stop' | 'length' | 'eos' | 'cancelled';

export interface TokenEvent {
  type: 'token';
  /** 0, 1, 2… per request: one per emitted piece of text. */
  index: number;
  /** Complete UTF-8 text, never empty. */
  delta: string;
  /** The token whose decoding completed this text. */
  tokenId: number;
  /** Only when the request asked for log-probabilities: one per token this text completes (usually one). */
  logprobs?: TokenLogprob[];
}

export interface TokenAlternative {
  /** The token's text in context (a part of a character comes out as U+FFFD). */
  token: string;
  /** Natural log of its probability under the model (raw logits: before penalties and temperature). */
  logprob: number;
}

/** A generated token's log-probability and the most likely tokens at its position, best first. */
export interface TokenLogprob extends TokenAlternative {
  top: TokenAlternative[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface Timings {
  queueSeconds: number;
  timeToFirstTokenSeconds: number;
  /** Decode rate after the first token (0 when only one token was generated). */
  tokensPerSecond: number;
}

/** Timings' tokensPerSecond: the tokens after the first over the time they took. */
export const decodeRate = (completionTokens: number, decodeSeconds: number) => (completionTokens > 1 && decodeSeconds > 0 ? (completionTokens - 1) / decodeSeconds : 0);

export interface DoneEvent {
  type: 'done';
  finishReason: FinishReason;
  usage: Usage;
  /** Prompt tokens whose KV cache came from the prefix cache instead of being computed. */
  cachedPromptTokens: number;
  timings: Timings;
  /** Whether the prompt was cut to fit the context window, and how many messages were left out. */
  promptTruncated: boolean;
  droppedMessages: number;
  /** Only when the request asked for them (conformance checks, debugging). */
  diagnostics?: Diagnostics;
}

/** What the model saw and produced, token by token. */
export interface Diagnostics {
  promptIds: number[];
  /** Every sampled token, EOS included, whether or not it made text. */
  tokenIds: number[];
  /** The logits at every prompt position, as float32. */
  promptLogits: Float32Array[];
  /** How many sequences each of its decode steps ran together. */
  batchSizes: number[];
  /** How many other requests were waiting or having their prompt read (not decoding) at each of its decode steps. */
  promptsPending: number[];
}

export interface ErrorEvent {
  type: 'error';
  message: string;
  /**
   * BAD_USER_INPUT: the request itself is at fault (a chat template refused it); UNAVAILABLE: a
   * model server the engine forwards to failed or did not answer; unset: an engine failure.
   */
  code?: 'BAD_USER_INPUT' | 'UNAVAILABLE';
  /** What the sequence had used when it failed, where that is known (a failed decode step). */
  usage?: Usage;
}

export type EngineEvent = TokenEvent | DoneEvent | ErrorEvent;

export interface ModelSummary {
  name: string;
  /** config.json's architecture, e.g. LlamaForCausalLM. */
  architecture: string;
  /** The variant served (MODEL_DTYPE). */
  dtype: import('./model-variants.ts').ModelDtype;
  /** Weights of the float model, from config.json; null for an architecture we cannot count. */
  parameters: number | null;
  /** Whether prompts are built with the model's own chat template (else the plain transcript). */
  chatTemplate: boolean;
  contextLength: number;
  vocabSize: number;
  defaults: import('./params.ts').ModelDefaults;
  executionProvider: string;
  /** How the KV cache is kept: in place in preallocated rows (graphs with new_key_values.* outputs), or taken back from present.* each step. */
  kvCache: 'in-place' | 'copied';
}

export type ToWorker =
  | { type: 'submit'; id: number; input: PromptInput; params: ResolvedParams; enqueuedAt: number; diagnostics?: boolean }
  | { type: 'cancel'; id: number }
  | { type: 'shutdown' };

export interface StepStats {
  batchSize: number;
  running: number;
  waiting: number;
  stepSeconds: number;
  /** Prompt runs (chunks, or whole prompts) this step made, in-place cache only. */
  prefillChunks?: number;
  /** Since the previous stats: prompt tokens restored from / computed despite the prefix cache, blocks evicted; and its bytes now. */
  prefixCache?: import('./prefix-cache.ts').PrefixCacheStats;
}

export type FromWorker =
  | { type: 'ready'; model: ModelSummary }
  | { type: 'fatal'; message: string }
  | { type: 'started'; id: number; queueSeconds: number }
  | { type: 'events'; events: { id: number; event: EngineEvent }[]; stats?: StepStats };
