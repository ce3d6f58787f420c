/**
 * In-process job queue, the embedded default. Same semantics as the Redis and SQS adapters
 * (visibility timeout, redelivery, dead-lettering, a line per model) so that code written against
 * it behaves the same in production; jobs do not survive the process.
 */
import { encodeJob, parseJob } from './job.ts';
import type { Consumer, ConsumeOptions, GenerationJob, JobHandler, JobQueue, QueueOptions } from './queue.ts';
import {
  Slots,
  checkConsumeOptions,
  checkQueueOptions,
  modelOf,
  runDelivery,
  silentLogger,
  type QueueLogger,
} from './queue-runtime.ts';

export interface MemoryQueueOptions extends QueueOptions {
  logger?: QueueLogger;
}

/** The line a job waits in: its model, or `null` for jobs that name none. */
type Line = string | null;

interface Entry {
  /** Stored as JSON so that consumers get a copy, as they would from a real backend. */
  body: string;
  line: Line;
  deliveries: number;
  acked: boolean;
  visibility?: NodeJS.Timeout;
}

interface MemoryConsumer {
  slots: Slots;
  lines: ReadonlySet<Line>;
  start(entry: Entry, attempt: number): void;
}

export class MemoryJobQueue implements JobQueue {
  readonly kind = 'memory' as const;
  readonly #options: QueueOptions;
  readonly #logger: QueueLogger;
  /** Waiting jobs per line, oldest first. */
  #ready = new Map<Line, Entry[]>();
  readonly #inflight = new Set<Entry>();
  readonly #dead: Entry[] = [];
  readonly #consumers: MemoryConsumer[] = [];
  readonly #stops = new Set<() => Promise<void>>();
  #next = 0;
  #closed = false;

  constructor(options: MemoryQueueOptions) {
    checkQueueOptions(options);
    this.#options = { visibilityTimeoutMs: options.visibilityTimeoutMs, maxDeliveries: options.maxDeliveries };
    this.#logger = options.logger ?? silentLogger;
  }

  async enqueue(job: GenerationJob): Promise<void> {
    if (this.#closed) throw new Error('queue is closed');
    const body = encodeJob(job);
    // The producer is in this process: a job no worker could read is refused to it here
    // (MalformedJobError), where the shared queues dead-letter it when a worker reads it.
    const line = modelOf(parseJob(body)) ?? null;
    this.#waiting(line).push({ body, line, deliveries: 0, acked: false });
    this.#dispatch();
  }

  consume(handler: JobHandler, options: ConsumeOptions): Consumer {
    checkConsumeOptions(options);
    if (this.#closed) throw new Error('queue is closed');
    const slots = new Slots(options.concurrency);
    const running = new Set<Promise<void>>();
    const logger = this.#logger;
    const consumer: MemoryConsumer = {
      slots,
      lines: new Set<Line>([...options.models, ...(options.unnamed ? [null] : [])]),
      start: (entry, attempt) => {
        slots.take();
        const run = runDelivery({
          handler,
          job: parseJob(entry.body),
          attempt,
          logger,
          visibilityTimeoutMs: this.#options.visibilityTimeoutMs,
          ack: async () => this.#ack(entry),
          heartbeat: async () => {
            // Only the delivery that holds the job may extend it; a redelivered job belongs to its new holder.
            if (entry.deliveries === attempt && this.#inflight.has(entry)) this.#hide(entry);
          },
        }).finally(() => {
          running.delete(run);
          slots.release();
          this.#dispatch();
        });
        running.add(run);
      },
    };
    this.#consumers.push(consumer);
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        const index = this.#consumers.indexOf(consumer);
        if (index >= 0) this.#consumers.splice(index, 1);
        this.#stops.delete(stop);
        await Promise.all(running);
      })();
      return stopping;
    };
    this.#stops.add(stop);
    this.#dispatch();
    return { stop };
  }

  async depth(model?: string | null): Promise<number> {
    if (model !== undefined) return this.#ready.get(model)?.length ?? 0;
    return [...this.#ready.values()].reduce((sum, entries) => sum + entries.length, 0);
  }

  /** Jobs that reached maxDeliveries without being acknowledged, oldest first. */
  deadLetters(): GenerationJob[] {
    return this.#dead.map((entry) => parseJob(entry.body));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    for (const entry of this.#inflight) clearTimeout(entry.visibility);
    this.#inflight.clear();
    this.#ready.clear();
  }

  #waiting(line: Line): Entry[] {
    let entries = this.#ready.get(line);
    if (!entries) this.#ready.set(line, (entries = []));
    return entries;
  }

  /**
   * Hands waiting jobs to consumers of their line with free slots, round robin so that no
   * consumer starves; a line nobody serves just waits.
   */
  #dispatch(): void {
    for (const [line, entries] of this.#ready) {
      while (entries.length > 0) {
        const consumer = this.#pickConsumer(line);
        if (!consumer) break;
        const entry = entries.shift() as Entry;
        entry.deliveries += 1;
        if (entry.deliveries > this.#options.maxDeliveries) {
          this.#dead.push(entry);
          continue;
        }
        this.#inflight.add(entry);
        this.#hide(entry);
        consumer.start(entry, entry.deliveries);
      }
    }
  }

  #pickConsumer(line: Line): MemoryConsumer | undefined {
    const count = this.#consumers.length;
    for (let i = 0; i < count; i += 1) {
      const consumer = this.#consumers[(this.#next + i) % count] as MemoryConsumer;
      if (consumer.lines.has(line) && consumer.slots.free > 0) {
        this.#next = (this.#next + i + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }

  /** (Re)starts the job's visibility timer; when it fires the job is waiting again. */
  #hide(entry: Entry): void {
    clearTimeout(entry.visibility);
    entry.visibility = setTimeout(() => {
      entry.visibility = undefined;
      if (!this.#inflight.delete(entry)) return;
      // Back at the head: it has waited longest, as XAUTOCLAIM and SQS would also favour it.
      this.#waiting(entry.line).unshift(entry);
      this.#dispatch();
    }, this.#options.visibilityTimeoutMs);
  }

  #ack(entry: Entry): void {
    if (entry.acked) return;
    entry.acked = true;
    clearTimeout(entry.visibility);
    entry.visibility = undefined;
    this.#inflight.delete(entry);
    // Acknowledged after its visibility lapsed but before anyone took it again: still done.
    const waiting = this.#ready.get(entry.line) ?? [];
    const index = waiting.indexOf(entry);
    if (index >= 0) waiting.splice(index, 1);
  }
}
