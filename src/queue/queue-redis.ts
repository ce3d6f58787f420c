/**
 * Job queue on a Redis Stream read through one consumer group (Redis 7+).
 *
 * - A job is one stream entry (`job` field, JSON). Workers read new entries with XREADGROUP, each
 *   on its own connection because the read blocks; Redis records a delivered entry in the group's
 *   pending list (PEL) until XACK.
 * - Acked entries are also XDELed, so the stream holds only waiting and in-flight jobs; MAXLEN ~
 *   is only a safety cap against unbounded growth.
 * - An entry left pending longer than the visibility timeout (its worker died) is taken over with
 *   XAUTOCLAIM, which bumps its delivery count; past maxDeliveries it moves to `<stream>:dead`.
 * - A running handler keeps its entry from being claimed by resetting the entry's idle time
 *   (XCLAIM … JUSTID to itself) on a heartbeat.
 */
import { Redis } from 'ioredis';
import { encodeJob, parseJob } from './job.ts';
import type { Consumer, ConsumeOptions, GenerationJob, JobHandler, JobQueue, QueueOptions } from './queue.ts';
import {
  Slots,
  checkConcurrency,
  checkQueueOptions,
  pause,
  runDelivery,
  silentLogger,
  type QueueLogger,
} from './queue-runtime.ts';

export interface RedisQueueOptions extends QueueOptions {
  /** A client the caller owns (left open on close), or a redis:// URL the queue connects to and closes. */
  redis: Redis | string;
  /** Stream key (the composition root names it; KEDA watches it); the dead-letter stream is `<streamKey>:dead`. */
  streamKey: string;
  group?: string;
  /** Safety cap on the stream's length (approximate trim on XADD); acked entries are deleted anyway. */
  maxLength?: number;
  logger?: QueueLogger;
}

export const DEFAULT_GROUP = 'workers';
const DEFAULT_MAX_LENGTH = 1_000_000;
const RETRY_DELAY_MS = 500;

/** A dead-lettered job as kept in the `:dead` stream. */
export interface DeadJob {
  /** Undefined for a message that was never a job this worker could read. */
  job: GenerationJob | undefined;
  /** The message as it was enqueued. */
  body: string;
  /** The entry id it had in the main stream. */
  entryId: string;
  deliveries: number;
}

/**
 * Extends the entry's visibility only while this consumer still holds it: after a reclaim the
 * entry belongs to another worker, and taking it back would hide it from the one running it.
 * A script, so that the ownership check and the claim cannot be split by another worker's claim.
 */
const TOUCH_SCRIPT = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #pending == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
`;

/**
 * Forgets a stopped consumer, but only when it holds no entries: DELCONSUMER drops the consumer's
 * pending entries with it, and those must stay claimable. Without this, every worker that ever ran
 * (named by host/pid) would stay listed in the group.
 */
const FORGET_CONSUMER_SCRIPT = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then return 0 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`;

type StreamEntry = [id: string, fields: string[] | null];

export class RedisJobQueue implements JobQueue {
  readonly kind = 'redis' as const;
  readonly streamKey: string;
  readonly deadKey: string;
  readonly group: string;
  readonly #redis: Redis;
  readonly #ownsRedis: boolean;
  readonly #options: QueueOptions;
  readonly #maxLength: number;
  readonly #logger: QueueLogger;
  readonly #stops = new Set<() => Promise<void>>();
  #group: Promise<void> | undefined;
  #closed = false;

  constructor(options: RedisQueueOptions) {
    checkQueueOptions(options);
    this.#ownsRedis = typeof options.redis === 'string';
    this.#redis = typeof options.redis === 'string' ? new Redis(options.redis) : options.redis;
    this.streamKey = options.streamKey;
    this.deadKey = `${this.streamKey}:dead`;
    this.group = options.group ?? DEFAULT_GROUP;
    this.#options = { visibilityTimeoutMs: options.visibilityTimeoutMs, maxDeliveries: options.maxDeliveries };
    this.#maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    this.#logger = options.logger ?? silentLogger;
  }

  async enqueue(job: GenerationJob): Promise<void> {
    if (this.#closed) throw new Error('queue is closed');
    // The group must exist before the first entry, or an entry added before it would be skipped by a group created at '$'.
    await this.#ensureGroup();
    await this.#redis.xadd(this.streamKey, 'MAXLEN', '~', this.#maxLength, '*', 'job', encodeJob(job));
  }

  consume(handler: JobHandler, options: ConsumeOptions): Consumer {
    checkConcurrency(options.concurrency);
    if (this.#closed) throw new Error('queue is closed');
    const consumer = new RedisConsumer(this, this.#redis, handler, options, this.#options, this.#logger);
    const stop = async () => {
      await consumer.stop();
      this.#stops.delete(stop);
    };
    this.#stops.add(stop);
    return { stop };
  }

  async depth(): Promise<number> {
    await this.#ensureGroup();
    const groups = (await this.#redis.xinfo('GROUPS', this.streamKey)) as unknown[][];
    for (const raw of groups) {
      const info = pairs(raw);
      if (info.get('name') !== this.group) continue;
      const lag = info.get('lag');
      if (typeof lag === 'number') return lag;
    }
    // No lag (Redis can't always tell, e.g. after some deletions): entries in the stream are the
    // waiting ones plus the delivered-but-unacked ones, since acked entries are deleted.
    const [length, pending] = await this.#transaction((multi) => multi.xlen(this.streamKey).xpending(this.streamKey, this.group));
    const pendingCount = Array.isArray(pending) ? Number(pending[0]) : 0;
    return Math.max(0, Number(length) - pendingCount);
  }

  /** Dead-lettered jobs, oldest first. */
  async deadLetters(count = 100): Promise<DeadJob[]> {
    const entries = (await this.#redis.xrange(this.deadKey, '-', '+', 'COUNT', count)) as StreamEntry[];
    return entries.map(([, fields]) => {
      const info = pairs(fields ?? []);
      const body = String(info.get('job'));
      return { job: readable(body), body, entryId: String(info.get('entryId')), deliveries: Number(info.get('deliveries')) };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    if (this.#ownsRedis) await this.#redis.quit();
  }

  /** Creates the group (and stream) once; a consumer that meets NOGROUP (stream deleted) resets it. */
  ensureGroup(reset = false): Promise<void> {
    if (reset) this.#group = undefined;
    return this.#ensureGroup();
  }

  #ensureGroup(): Promise<void> {
    this.#group ??= this.#redis.xgroup('CREATE', this.streamKey, this.group, '0', 'MKSTREAM').then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof Error && error.message.startsWith('BUSYGROUP')) return;
        this.#group = undefined;
        throw error;
      },
    );
    return this.#group;
  }

  async #transaction(build: (multi: ReturnType<Redis['multi']>) => ReturnType<Redis['multi']>): Promise<unknown[]> {
    const results = await build(this.#redis.multi()).exec();
    if (!results) throw new Error('Redis transaction aborted');
    return results.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }

  /** Moves an entry to the dead-letter stream and out of the group, in one transaction. */
  async deadLetter(entryId: string, body: string, deliveries: number): Promise<void> {
    await this.#transaction((multi) =>
      multi
        .xadd(this.deadKey, '*', 'job', body, 'entryId', entryId, 'deliveries', String(deliveries))
        .xack(this.streamKey, this.group, entryId)
        .xdel(this.streamKey, entryId),
    );
  }

  async ack(entryId: string): Promise<void> {
    await this.#transaction((multi) => multi.xack(this.streamKey, this.group, entryId).xdel(this.streamKey, entryId));
  }

  async forgetConsumer(consumerName: string): Promise<void> {
    await this.#redis.eval(FORGET_CONSUMER_SCRIPT, 1, this.streamKey, this.group, consumerName);
  }

  async touch(consumerName: string, entryId: string): Promise<boolean> {
    const held = await this.#redis.eval(TOUCH_SCRIPT, 1, this.streamKey, this.group, consumerName, entryId);
    return held === 1;
  }
}

class RedisConsumer {
  readonly #slots: Slots;
  readonly #running = new Set<Promise<void>>();
  /** Blocking reads hold their connection, so each consumer reads on its own. */
  readonly #reader: Redis;
  readonly #loop: Promise<void>;
  readonly #stopped = new AbortController();
  #claimCursor = '0-0';

  constructor(
    private readonly queue: RedisJobQueue,
    private readonly redis: Redis,
    private readonly handler: JobHandler,
    private readonly options: ConsumeOptions,
    private readonly queueOptions: QueueOptions,
    private readonly logger: QueueLogger,
  ) {
    this.#slots = new Slots(options.concurrency);
    this.#reader = redis.duplicate();
    // Without a listener ioredis prints connection errors itself; the read loop retries anyway.
    this.#reader.on('error', (error: unknown) => logger.warn({ err: error, consumer: options.consumerName }, 'queue reader connection error'));
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    if (!this.#stopped.signal.aborted) {
      this.#stopped.abort();
      this.#slots.wake();
      // Ends a blocked XREADGROUP now rather than after its BLOCK time.
      this.#reader.disconnect();
    }
    await this.#loop;
    await Promise.all(this.#running);
    await this.queue
      .forgetConsumer(this.options.consumerName)
      .catch((error: unknown) => this.logger.warn({ err: error, consumer: this.options.consumerName }, 'could not remove queue consumer'));
  }

  get #blockMs(): number {
    // Stale entries are only looked for between reads, so a read must not block much past a visibility timeout.
    return Math.min(5_000, Math.max(50, Math.floor(this.queueOptions.visibilityTimeoutMs / 2)));
  }

  async #run(): Promise<void> {
    const signal = this.#stopped.signal;
    while (!signal.aborted) {
      await this.#slots.whenFree();
      if (signal.aborted) break;
      try {
        await this.queue.ensureGroup();
        if ((await this.#reclaim()) > 0) continue;
        await this.#readNew();
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Error && error.message.startsWith('NOGROUP')) {
          await this.queue.ensureGroup(true).catch(() => undefined);
        } else {
          this.logger.warn({ err: error, consumer: this.options.consumerName }, 'queue read failed; retrying');
        }
        await pause(RETRY_DELAY_MS, signal);
      }
    }
  }

  /** Takes over entries idle past the visibility timeout; returns how many it started. */
  async #reclaim(): Promise<number> {
    const { streamKey, group } = this.queue;
    const name = this.options.consumerName;
    const [cursor, claimed] = (await this.redis.xautoclaim(
      streamKey,
      group,
      name,
      this.queueOptions.visibilityTimeoutMs,
      this.#claimCursor,
      'COUNT',
      this.#slots.free,
    )) as [string, StreamEntry[], string[]?];
    this.#claimCursor = cursor;
    const live = claimed.filter((entry): entry is [string, string[]] => entry[1] !== null);
    if (live.length === 0) return 0;
    // XAUTOCLAIM does not return delivery counts; the PEL has them (already bumped by the claim).
    const pipeline = this.redis.pipeline();
    for (const [id] of live) pipeline.xpending(streamKey, group, id, id, 1, name);
    const counts = (await pipeline.exec()) ?? [];
    let started = 0;
    for (const [index, [id, fields]] of live.entries()) {
      const row = (counts[index]?.[1] as [string, string, number, number][] | undefined)?.[0];
      // Not ours any more (acked or claimed by another in the meantime): leave it.
      if (!row) continue;
      const deliveries = Number(row[3]);
      const body = fieldValue(fields, 'job');
      if (deliveries > this.queueOptions.maxDeliveries || body === undefined) {
        await this.queue.deadLetter(id, body ?? '', deliveries);
        this.logger.warn({ entryId: id, deliveries }, 'generation job dead-lettered');
        continue;
      }
      if (this.#start(id, body, deliveries)) started += 1;
    }
    return started;
  }

  async #readNew(): Promise<void> {
    const { streamKey, group } = this.queue;
    const reply = (await this.#reader.xreadgroup(
      'GROUP',
      group,
      this.options.consumerName,
      'COUNT',
      this.#slots.free,
      'BLOCK',
      this.#blockMs,
      'STREAMS',
      streamKey,
      '>',
    )) as [string, StreamEntry[]][] | null;
    for (const [, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        const body = fields ? fieldValue(fields, 'job') : undefined;
        if (body === undefined) {
          await this.queue.deadLetter(id, '', 1);
          continue;
        }
        // Read as the consumer was stopping: left pending, reclaimed by another worker after the visibility timeout.
        if (this.#stopped.signal.aborted) return;
        this.#start(id, body, 1);
      }
    }
  }

  #start(entryId: string, body: string, attempt: number): boolean {
    let job: GenerationJob;
    try {
      job = parseJob(body);
    } catch (error) {
      // Another delivery would not make it readable: dead-lettered at once, kept for a look.
      this.logger.error({ err: error, entryId }, 'unreadable generation job dead-lettered');
      void this.queue.deadLetter(entryId, body, attempt).catch((failure: unknown) => this.logger.error({ err: failure, entryId }, 'dead-lettering failed'));
      return false;
    }
    this.#slots.take();
    const run = runDelivery({
      handler: this.handler,
      job,
      attempt,
      logger: this.logger,
      visibilityTimeoutMs: this.queueOptions.visibilityTimeoutMs,
      ack: () => this.queue.ack(entryId),
      heartbeat: async () => {
        if (!(await this.queue.touch(this.options.consumerName, entryId))) {
          this.logger.warn({ entryId, generationId: job.generationId }, 'generation job was reclaimed by another worker');
        }
      },
    }).finally(() => {
      this.#running.delete(run);
      this.#slots.release();
    });
    this.#running.add(run);
    return true;
  }
}

/** Redis replies as flat [key, value, key, value…] arrays. */
function pairs(flat: readonly unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1]);
  return map;
}

function fieldValue(fields: readonly string[], name: string): string | undefined {
  const value = pairs(fields).get(name);
  return typeof value === 'string' ? value : undefined;
}

function readable(body: string): GenerationJob | undefined {
  try {
    return parseJob(body);
  } catch {
    return undefined;
  }
}
