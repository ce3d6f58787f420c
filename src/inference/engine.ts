/**
 * The inference engine as the rest of the program sees it: `generate()` returns an async
 * iterable of token events and a final event, while the model runs in a worker thread.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { FixedBuffer, Repeater } from '@repeaterjs/repeater';
import type { Registry } from 'prom-client';
import { AppError, ErrorCode } from '../errors.ts';
import { createInferenceMetrics, type InferenceMetrics } from '../observability/metrics.ts';
import { resolveParams, type GenerationParams } from './params.ts';
import type { PromptInput } from './prompt.ts';
import type { EngineEvent, FromWorker, ModelSummary, StepStats, ToWorker } from './protocol.ts';
import type { WorkerConfig } from './worker.ts';
import type { ModelDtype } from './model-variants.ts';
import type { KvCacheDtype } from './prefix-cache.ts';

export interface EngineOptions {
  modelPath: string;
  /** Which ONNX variant of the folder to load; fp32 (onnx/model.onnx) by default. */
  dtype?: ModelDtype;
  /** The name clients pick the model by (MODEL_PATH's); default: the folder's name. */
  name?: string;
  device?: 'cpu' | 'cuda';
  intraOpThreads?: number;
  spinWait?: boolean;
  maxBatchSize?: number;
  /** Bytes of finished sequences' KV cache kept for prompts that start the same way (prefix-cache.ts); 0 (default) keeps none. */
  prefixCacheBytes?: number;
  /** How the prefix cache stores its blocks (KV_CACHE_DTYPE): fp16 halves them; default fp32, exact. */
  kvCacheDtype?: KvCacheDtype;
  /** Prompt tokens read per step, between decode steps of the running batch (scheduler.ts); 0 (default): whole prompts. */
  prefillChunkTokens?: number;
  /** Requests allowed to wait for a batch slot; one more fails at once with OVERLOADED. */
  maxQueuedRequests?: number;
  registry?: Registry;
  /** Called with every scheduler step's figures (benchmarks: a running stream's gap between tokens is a step). */
  onStep?: (stats: StepStats) => void;
}

export interface GenerateRequest {
  input: PromptInput;
  params?: GenerationParams;
  signal?: AbortSignal;
  /** The done event reports prompt ids, every sampled id and the prompt's logits (see Diagnostics). */
  diagnostics?: boolean;
}

interface Listener {
  push(event: EngineEvent): void;
}

/**
 * Built, the worker is plain JavaScript. From TypeScript sources (npm start, tests) it needs
 * tsx's loader, which worker threads do not inherit: worker-bootstrap.mjs registers it first.
 */
function spawnWorker(workerData: WorkerConfig): Worker {
  const entry = import.meta.url.endsWith('.ts') ? './worker-bootstrap.mjs' : './worker.js';
  return new Worker(new URL(entry, import.meta.url), { workerData });
}

/** Resolves with the model summary once the worker has loaded it; rejects with the reason it could not. */
function waitForReady(worker: Worker, modelPath: string): Promise<ModelSummary> {
  return new Promise<ModelSummary>((resolve, reject) => {
    const cleanUp = () => {
      worker.off('message', onMessage);
      worker.off('error', reject);
      worker.off('exit', onExit);
    };
    const onMessage = (message: FromWorker) => {
      if (message.type !== 'ready' && message.type !== 'fatal') return;
      cleanUp();
      if (message.type === 'ready') resolve(message.model);
      else reject(new Error(message.message));
    };
    const onExit = (code: number) => {
      cleanUp();
      reject(new Error(`inference worker exited (${code}) while loading ${modelPath}`));
    };
    worker.on('message', onMessage);
    worker.on('error', reject);
    worker.on('exit', onExit);
  });
}

/**
 * Every core by default: measured on 2 cores, a second ONNX Runtime thread decodes 12-18%
 * faster than one, and the main thread still answers within a few milliseconds (its event loop
 * only moves messages; see the event-loop delay test).
 */
export function defaultInferenceThreads(): number {
  return Math.max(1, os.availableParallelism());
}

export class InferenceEngine {
  private nextId = 1;
  private readonly listeners = new Map<number, Listener>();
  /** Submitted and not yet started: the queue that MAX_QUEUED_REQUESTS bounds. */
  private readonly queued = new Set<number>();
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    readonly model: ModelSummary,
    private readonly maxQueued: number,
    private readonly metrics: InferenceMetrics | undefined,
    private readonly onStep: ((stats: StepStats) => void) | undefined,
  ) {
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => this.failAll(`inference worker failed: ${error.message}`));
    worker.on('exit', () => this.failAll('inference worker stopped'));
  }

  static async start(options: EngineOptions): Promise<InferenceEngine> {
    const config: WorkerConfig = {
      modelPath: options.modelPath,
      dtype: options.dtype ?? 'fp32',
      device: options.device ?? 'cpu',
      intraOpThreads: options.intraOpThreads ?? defaultInferenceThreads(),
      spinWait: options.spinWait ?? false,
      maxBatchSize: options.maxBatchSize ?? 8,
      prefixCacheBytes: options.prefixCacheBytes ?? 0,
      kvCacheDtype: options.kvCacheDtype ?? 'fp32',
      prefillChunkTokens: options.prefillChunkTokens ?? 0,
    };
    const worker = spawnWorker(config);
    let model = await waitForReady(worker, options.modelPath).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    model = { ...model, name: options.name ?? model.name };
    const metrics = options.registry ? createInferenceMetrics(options.registry, model.name) : undefined;
    return new InferenceEngine(worker, model, options.maxQueuedRequests ?? 64, metrics, options.onStep);
  }

  /**
   * Starts a generation. Invalid parameters (BAD_USER_INPUT) and a full queue (OVERLOADED) throw
   * here, at once; everything after is reported through the events.
   */
  generate(request: GenerateRequest): AsyncIterable<EngineEvent> {
    if (this.closed) throw new AppError(ErrorCode.OVERLOADED, 'The inference engine is shutting down');
    const params = resolveParams(request.params ?? {}, this.model.defaults, this.model.vocabSize);
    if (this.queued.size >= this.maxQueued) {
      throw new AppError(ErrorCode.OVERLOADED, 'Too many generations waiting; try again shortly', { retryAfter: 1 });
    }
    const id = this.nextId++;
    const send = (message: ToWorker) => this.worker.postMessage(message);
    this.queued.add(id);
    this.metrics?.waiting.set(this.queued.size);

    return new Repeater<EngineEvent>(async (push, stop) => {
      let cancelled = false;
      this.listeners.set(id, {
        push: (event) => {
          // Tokens the worker made before it saw the cancellation are still on their way here:
          // a cancelled stream ends with what its consumer had when it cancelled.
          if (cancelled && event.type === 'token') return;
          void push(event);
          if (event.type !== 'token') stop();
        },
      });
      const cancel = () => {
        cancelled = true;
        send({ type: 'cancel', id });
      };
      request.signal?.addEventListener('abort', cancel, { once: true });
      if (request.signal?.aborted) cancel();
      send({ type: 'submit', id, input: request.input, params, enqueuedAt: performance.timeOrigin + performance.now(), diagnostics: request.diagnostics });
      await stop;
      // Ended by the consumer (break/return) before the last event: stop the work too.
      if (this.listeners.has(id)) cancel();
      this.listeners.delete(id);
      this.queued.delete(id);
      request.signal?.removeEventListener('abort', cancel);
      // Buffered: unbuffered, Repeater throws (in the worker's message handler, so the process
      // dies) once 1,024 events wait for a slow reader, and a long context makes more than that.
      // A generation's events are bounded by its context window, so the buffer is too.
    }, new FixedBuffer(Infinity));
  }

  private onMessage(message: FromWorker) {
    if (message.type === 'started') {
      this.queued.delete(message.id);
      this.metrics?.queueTime.observe(message.queueSeconds);
      this.metrics?.waiting.set(this.queued.size);
      return;
    }
    if (message.type !== 'events') return;
    for (const { id, event } of message.events) {
      this.observe(event);
      const listener = this.listeners.get(id);
      if (event.type !== 'token') this.listeners.delete(id);
      listener?.push(event);
    }
    if (message.stats) this.onStep?.(message.stats);
    if (message.stats && this.metrics) {
      if (message.stats.batchSize > 0) {
        this.metrics.batchSize.observe(message.stats.batchSize);
        this.metrics.interTokenLatency.observe(message.stats.stepSeconds);
      }
      this.metrics.running.set(message.stats.running);
      if (message.stats.prefillChunks) this.metrics.prefillChunks.inc(message.stats.prefillChunks);
      const cache = message.stats.prefixCache;
      if (cache) {
        this.metrics.prefixCacheHitTokens.inc(cache.hitTokens);
        this.metrics.prefixCacheMissTokens.inc(cache.missTokens);
        this.metrics.prefixCacheEvictions.inc(cache.evictions);
        this.metrics.prefixCacheBytes.set(cache.bytes);
      }
    }
  }

  private observe(event: EngineEvent) {
    if (!this.metrics || event.type !== 'done') return;
    this.metrics.tokens.inc(event.usage.completionTokens);
    if (event.usage.completionTokens > 0) this.metrics.timeToFirstToken.observe(event.timings.timeToFirstTokenSeconds);
  }

  private failAll(message: string) {
    for (const [id, listener] of this.listeners) {
      this.listeners.delete(id);
      listener.push({ type: 'error', message });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await this.worker.terminate();
  }
}
