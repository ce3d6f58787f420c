/**
 * Serves a model by forwarding to an OpenAI-compatible server (vLLM, TGI, llama.cpp, another
 * gptql) instead of running it: the generation worker treats it as it does a local engine, so
 * the upstream's streamed chunks become the same token events (resumable subscriptions,
 * persistence, usage, cancellation). The official `openai` SDK is the client; it parses the
 * server-sent events and raises the typed errors mapped here.
 *
 * Before the first token a request is retried (connection refused or dropped, 429, 5xx, no first
 * token within the timeout), with backoff; after it, nothing is retried: the client has text
 * already, so a failure ends the generation with `UNAVAILABLE`.
 */
import OpenAI from 'openai';
import { Counter, type Registry } from 'prom-client';
import type { GenerateRequest } from '../inference/engine.ts';
import { decodeRate, type EngineEvent, type FinishReason, type TokenLogprob, type Usage } from '../inference/protocol.ts';
import type { GenerationEngine, EngineModel } from '../generation/engine.ts';
import type { Logger } from '../observability/logger.ts';
import { upstreamRequest, type UpstreamRequest } from './request.ts';
import { chunkLogprobs, type UpstreamChunk } from './chunks.ts';

export interface UpstreamOptions {
  /** The server's API base, e.g. http://vllm:8000/v1. */
  baseURL: string;
  apiKey?: string;
  /** The name clients use here, and the model's name on the upstream. */
  name: string;
  upstreamModel: string;
  /** Longest wait for the first token, and between tokens after it. */
  timeoutMs: number;
  /** Further attempts before the first token. */
  retries: number;
  registry?: Registry;
  logger?: Logger;
}

type Outcome = 'completed' | 'cancelled' | 'failed';

/** A generation's progress over its attempts: `index` counts the token events (one per chunk with text) sent so far. */
interface Progress {
  index: number;
  firstTokenAt: number;
  usage?: Usage;
  finish?: FinishReason;
}

/** Why an attempt failed, and whether another may succeed. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    readonly code: 'UNAVAILABLE' | 'BAD_USER_INPUT' | undefined,
    readonly more: { retryAfterMs?: number; timedOut?: boolean } = {},
  ) {
    super(message);
  }
}

const metricsByRegistry = new WeakMap<Registry, { requests: Counter<'model' | 'outcome'>; retries: Counter<'model' | 'reason'> }>();
function upstreamMetrics(registry: Registry) {
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    metrics = {
      requests: new Counter({ name: 'upstream_requests_total', help: 'Generations forwarded to an upstream server, by how they ended', labelNames: ['model', 'outcome'], registers: [registry] }),
      retries: new Counter({ name: 'upstream_retries_total', help: 'Attempts repeated before the first token, by reason', labelNames: ['model', 'reason'], registers: [registry] }),
    };
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/** How an SDK error reads: retriable (the server may answer next time) or final. */
function classify(error: unknown): AttemptError {
  if (error instanceof AttemptError) return error;
  if (error instanceof OpenAI.APIError && error.status !== undefined) {
    const message = `the model server answered ${error.status}: ${error.message}`;
    if (error.status === 429 || error.status >= 500) {
      const seconds = Number(error.headers?.get('retry-after'));
      return new AttemptError(message, true, 'UNAVAILABLE', { retryAfterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined });
    }
    // The request itself (too long a prompt, a value out of the server's range): the user's to fix.
    if (error.status === 400 || error.status === 422) return new AttemptError(error.message, false, 'BAD_USER_INPUT');
    // 401, 403, 404: this worker's configuration (key, model name), not the user's request.
    return new AttemptError(message, false, undefined);
  }
  // Connection refused, reset or dropped mid-body, an error event in the stream.
  return new AttemptError(`the model server failed: ${(error as Error).message}`, true, 'UNAVAILABLE');
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export class UpstreamEngine implements GenerationEngine {
  readonly model: EngineModel;
  private readonly client: OpenAI;
  private readonly metrics;
  private readonly requests = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly options: UpstreamOptions,
    contextLength: number,
  ) {
    this.client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey || 'none', maxRetries: 0, timeout: 24 * 3600_000 });
    this.model = { name: options.name, architecture: `upstream:${options.upstreamModel}`, dtype: 'upstream', parameters: null, contextLength, chatTemplate: true };
    this.metrics = options.registry ? upstreamMetrics(options.registry) : undefined;
  }

  /**
   * Asks the server which models it serves: one this worker is configured for and the server
   * lacks is a configuration error, reported at start. A server that does not answer (still
   * loading its model) is not: requests retry, then fail with UNAVAILABLE, until it does.
   */
  static async start(options: UpstreamOptions): Promise<UpstreamEngine> {
    const probe = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey || 'none', maxRetries: 0, timeout: 5000 });
    let contextLength = 0;
    try {
      const listed = (await probe.models.list()).data as (OpenAI.Models.Model & { max_model_len?: number })[];
      const found = listed.find((model) => model.id === options.upstreamModel);
      if (!found) throw new Error(`the model server at ${options.baseURL} does not serve "${options.upstreamModel}" (it serves: ${listed.map((m) => m.id).join(', ') || 'nothing'})`);
      contextLength = found.max_model_len ?? 0;
    } catch (error) {
      if (error instanceof OpenAI.APIError && (error.status === 401 || error.status === 403)) throw new Error(`the model server at ${options.baseURL} refused UPSTREAM_OPENAI_API_KEY (${error.status})`, { cause: error });
      if (!(error instanceof OpenAI.APIConnectionError) && !(error instanceof OpenAI.APIError && (error.status ?? 0) >= 500)) throw error;
      options.logger?.warn({ err: error, upstream: options.baseURL, model: options.name }, 'model server not reachable yet; serving it anyway');
    }
    return new UpstreamEngine(options, contextLength);
  }

  async *generate(request: GenerateRequest): AsyncIterable<EngineEvent> {
    const { name, upstreamModel, retries } = this.options;
    const upstream = upstreamRequest(upstreamModel, request.input, request.params ?? {});
    const started = performance.now();
    const progress: Progress = { index: 0, firstTokenAt: 0 };
    const ended = (outcome: Outcome) => this.metrics?.requests.inc({ model: name, outcome });
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const event of this.attempt(upstream, request, progress)) yield event;
        break;
      } catch (caught) {
        if (request.signal?.aborted) break;
        const error = classify(caught);
        if (progress.index === 0 && error.retriable && attempt < retries) {
          this.metrics?.retries.inc({ model: name, reason: error.more.timedOut ? 'timeout' : 'error' });
          this.options.logger?.warn({ model: name, attempt: attempt + 1, reason: error.message }, 'model server attempt failed; retrying');
          await sleep(Math.min(error.more.retryAfterMs ?? 250 * 2 ** attempt, 10_000), request.signal);
          if (request.signal?.aborted) break;
          continue;
        }
        ended('failed');
        this.options.logger?.warn({ model: name, attempts: attempt + 1, tokens: progress.index, reason: error.message }, 'model server request failed');
        // The server's count is unknown when it fails: the chunks streamed stand for the tokens.
        const usage = progress.index > 0 ? { usage: { promptTokens: 0, completionTokens: progress.index } } : {};
        const failedMidReply = progress.index > 0 ? ` after ${progress.index} tokens` : '';
        yield { type: 'error', message: `${error.message}${failedMidReply}`, ...(error.code ? { code: error.code } : {}), ...usage };
        return;
      }
    }
    const cancelled = request.signal?.aborted ?? false;
    ended(cancelled ? 'cancelled' : 'completed');
    const done = performance.now();
    const completionTokens = progress.usage?.completionTokens ?? progress.index;
    const decodeSeconds = progress.firstTokenAt ? (done - progress.firstTokenAt) / 1000 : 0;
    yield {
      type: 'done',
      finishReason: cancelled ? 'cancelled' : (progress.finish ?? 'stop'),
      usage: { promptTokens: progress.usage?.promptTokens ?? 0, completionTokens },
      cachedPromptTokens: 0,
      timings: {
        queueSeconds: 0,
        timeToFirstTokenSeconds: progress.firstTokenAt ? (progress.firstTokenAt - started) / 1000 : 0,
        tokensPerSecond: decodeRate(completionTokens, decodeSeconds),
      },
      promptTruncated: false,
      droppedMessages: 0,
    };
  }

  /** One request to the server, its chunks turned into token events; throws on failure and on timeout. */
  private async *attempt(
    upstream: UpstreamRequest,
    request: GenerateRequest,
    progress: Progress,
  ): AsyncIterable<EngineEvent> {
    const controller = new AbortController();
    const abort = () => controller.abort();
    request.signal?.addEventListener('abort', abort, { once: true });
    if (request.signal?.aborted) return;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.options.timeoutMs);
    };
    /** Why this attempt was stopped from here, if it was: a timeout, or the engine closing. */
    const stopped = () => {
      if (timedOut) {
        const seconds = this.options.timeoutMs / 1000;
        return new AttemptError(progress.index === 0 ? `the model server sent no token within ${seconds} s` : `the model server sent no token for ${seconds} s`, true, 'UNAVAILABLE', { timedOut: true });
      }
      return this.closed ? new AttemptError('the worker is shutting down', false, 'UNAVAILABLE') : undefined;
    };
    this.requests.add(controller);
    arm();
    try {
      const options = { signal: controller.signal };
      // The bodies carry vLLM's extra parameters, which the SDK's types do not list.
      const stream = (upstream.kind === 'chat'
        ? await this.client.chat.completions.create(upstream.body as never, options)
        : await this.client.completions.create(upstream.body as never, options)) as unknown as AsyncIterable<UpstreamChunk>;
      let finished = false;
      for await (const chunk of stream) {
        arm();
        if (chunk.usage) progress.usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const text = 'delta' in choice ? choice.delta?.content : (choice as { text?: string }).text;
        if (text) {
          if (progress.index === 0) progress.firstTokenAt = performance.now();
          const logprobs: TokenLogprob[] | undefined = chunkLogprobs(choice);
          yield { type: 'token', index: progress.index++, delta: text, tokenId: -1, ...(logprobs ? { logprobs } : {}) };
        }
        if (choice.finish_reason) {
          finished = true;
          progress.finish = finishReasonOf(choice.finish_reason, choice.stop_reason, request.params?.stop);
        }
      }
      // An aborted stream may end quietly rather than throw: why it ended decides.
      const interrupted = stopped();
      if (interrupted) throw interrupted;
      if (!finished && !request.signal?.aborted) throw new AttemptError('the model server ended the stream without finishing the reply', true, 'UNAVAILABLE');
    } catch (error) {
      if (request.signal?.aborted) return;
      throw stopped() ?? error;
    } finally {
      clearTimeout(timer);
      this.requests.delete(controller);
      request.signal?.removeEventListener('abort', abort);
    }
  }

  /**
   * Hangs up on requests still in flight; their generations fail with UNAVAILABLE. The worker
   * stops taking jobs and lets its running ones finish before it closes its engines, so
   * normally there are none.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.requests) controller.abort();
  }
}

/**
 * OpenAI's `stop` covers both the model's end and a stop sequence; vLLM's `stop_reason` tells
 * them apart (the matched text, a token id, or null for the end-of-sequence token).
 */
function finishReasonOf(reason: string, stopReason: unknown, stops: readonly string[] | null | undefined): FinishReason {
  if (reason === 'length') return 'length';
  if (typeof stopReason === 'string') return 'stop';
  if (stopReason === undefined && stops && stops.length > 0) return 'stop';
  return 'eos';
}
