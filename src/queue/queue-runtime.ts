/**
 * What the three queue adapters share on the consuming side: a concurrency gate, running one
 * delivery with a visibility heartbeat, and option checks. Backend specifics stay in the adapters.
 */
import type { ConsumeOptions, DeliveredJob, GenerationJob, JobHandler, QueueOptions } from './queue.ts';

/** Where adapters report what they cannot throw to a caller (a handler's error, a backend hiccup). */
export interface QueueLogger {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export const silentLogger: QueueLogger = { warn() {}, error() {} };

export function checkQueueOptions(options: QueueOptions): void {
  if (!(options.visibilityTimeoutMs > 0)) throw new RangeError('visibilityTimeoutMs must be positive');
  if (!Number.isInteger(options.maxDeliveries) || options.maxDeliveries < 1) {
    throw new RangeError('maxDeliveries must be an integer of at least 1');
  }
}

export function checkConsumeOptions(options: ConsumeOptions): void {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new RangeError('concurrency must be an integer of at least 1');
  if (options.models.length === 0 && !options.unnamed) throw new RangeError('a consumer must take the jobs of at least one model');
}

/** The model a job waits for; undefined for a job that names none. */
export const modelOf = (job: GenerationJob): string | undefined => job.params.model ?? undefined;

/**
 * Heartbeats run several times per visibility timeout so that one late or failed beat does not
 * let the job's visibility lapse.
 */
export function heartbeatInterval(visibilityTimeoutMs: number): number {
  return Math.max(1, Math.floor(visibilityTimeoutMs / 3));
}

/**
 * Counts the handlers a consumer runs at once. A consumer fetches only as many jobs as it has free
 * slots, so a job is never held by a consumer that cannot start it (it would burn visibility time).
 * Hand-written: p-limit and friends queue work, they do not tell a poller how much to ask for.
 */
export class Slots {
  #busy = 0;
  #waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get free(): number {
    return this.limit - this.#busy;
  }

  take(count = 1): void {
    this.#busy += count;
  }

  release(count = 1): void {
    if (count === 0) return;
    this.#busy -= count;
    this.#wake();
  }

  /** Resolves when a slot is free, or when `wake()` is called (a consumer stopping). */
  whenFree(): Promise<void> {
    if (this.free > 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  wake(): void {
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}

export interface RunDeliveryOptions {
  handler: JobHandler;
  job: GenerationJob;
  attempt: number;
  /** Removes the job from the backend for good. */
  ack: () => Promise<void>;
  /** Pushes the job's visibility deadline out again; called every `heartbeatInterval(visibilityTimeoutMs)` until acked or settled. */
  heartbeat: () => Promise<void>;
  visibilityTimeoutMs: number;
  logger: QueueLogger;
}

/**
 * Runs the handler for one delivery. Never rejects: a handler that throws leaves the job
 * unacknowledged, so it comes back after the visibility timeout (a natural back-off for a job
 * that keeps failing) and is dead-lettered after maxDeliveries.
 */
export async function runDelivery(options: RunDeliveryOptions): Promise<void> {
  const { job, attempt, logger } = options;
  let acked: Promise<void> | undefined;
  let beating: Promise<void> | undefined;
  const timer = setInterval(() => {
    // One beat at a time: a slow backend must not pile up concurrent extensions.
    if (acked || beating) return;
    beating = options
      .heartbeat()
      .catch((error: unknown) => logger.warn({ err: error, generationId: job.generationId }, 'queue heartbeat failed'))
      .finally(() => {
        beating = undefined;
      });
  }, heartbeatInterval(options.visibilityTimeoutMs));
  const delivery: DeliveredJob = {
    job,
    attempt,
    visibilityTimeoutMs: options.visibilityTimeoutMs,
    ack() {
      acked ??= options.ack();
      return acked;
    },
  };
  try {
    await options.handler(delivery);
  } catch (error) {
    logger.error({ err: error, generationId: job.generationId, attempt }, 'generation job handler failed');
  } finally {
    clearInterval(timer);
    await beating;
    // An ack the handler started but did not await must settle before the slot counts as free.
    await acked?.catch((error: unknown) => logger.error({ err: error, generationId: job.generationId }, 'queue ack failed'));
  }
}

/** Waits `ms`, or less when `signal` aborts; never rejects. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
