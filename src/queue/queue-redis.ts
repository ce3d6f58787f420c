/**
 * Job queue on Redis Streams, one per model, each read through a consumer group (Redis 7+).
 *
 * - A job is one stream entry (`job` field, JSON) in its model's stream (`modelStreamKey`); jobs
 *   that name no model (an earlier release's) are in the jobs key's own stream. A consumer reads
 *   the streams of the models it serves, so a job never reaches a worker without its model.
 * - Workers read new entries with XREADGROUP, each on its own connection because the read blocks;
 *   Redis records a delivered entry in the group's pending list (PEL) until XACK.
 * - Acked entries are also XDELed, so the stream holds only waiting and in-flight jobs; MAXLEN ~
 *   is only a safety cap against unbounded growth.
 * - An entry left pending longer than the visibility timeout (its worker died) is taken over with
 *   XAUTOCLAIM, which bumps its delivery count; past maxDeliveries it moves to `<jobs key>:dead`,
 *   one dead-letter stream for every model (each entry says which stream it came from).
 * - A running handler keeps its entry from being claimed by resetting the entry's idle time
 *   (XCLAIM … JUSTID to itself) on a heartbeat.
 */
import { Redis } from 'ioredis';
import { encodeJob, parseJob } from './job.ts';
import type { Consumer, ConsumeOptions, GenerationJob, JobHandler, JobQueue, QueueOptions } from './queue.ts';
import { modelSetKey, modelStreamKey } from './names.ts';
import { QueueRouting, directedStreamKey, type RoutingOptions } from './redis-routing.ts';
import {
  Slots,
  checkConsumeOptions,
  checkQueueOptions,
  modelOf,
  heartbeatInterval,
  pause,
  runDelivery,
  silentLogger,
  type QueueLogger,
} from './queue-runtime.ts';

export interface RedisQueueOptions extends QueueOptions {
  /** A client the caller owns (left open on close), or a redis:// URL the queue connects to and closes. */
  redis: Redis | string;
  /**
   * The jobs key (the composition root names it): the stream of jobs that name no model, and the
   * prefix of each model's stream (`modelStreamKey`, which KEDA watches); dead letters go to `<streamKey>:dead`.
   */
  streamKey: string;
  group?: string;
  /** Safety cap on the stream's length (approximate trim on XADD); acked entries are deleted anyway. */
  maxLength?: number;
  logger?: QueueLogger;
  /** Conversation routing (see redis-routing.ts); absent: every job goes to its model's shared stream. */
  routing?: RoutingOptions;
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
  /** The stream it was in, and the entry id it had there. */
  stream: string;
  entryId: string;
  deliveries: number;
}

/** A consumer's stream: a model's, or (`null`) that of jobs naming none. */
type Line = string | null;

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
  /** The stream of jobs that name no model; each model's stream is `streamFor(model)`. */
  readonly streamKey: string;
  readonly deadKey: string;
  readonly group: string;
  readonly #redis: Redis;
  readonly #ownsRedis: boolean;
  readonly #options: QueueOptions;
  readonly #maxLength: number;
  readonly #logger: QueueLogger;
  readonly routing: QueueRouting | undefined;
  readonly #stops = new Set<() => Promise<void>>();
  /** Streams whose group this process has made sure of. */
  readonly #groups = new Map<string, Promise<void>>();
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
    this.routing = options.routing && new QueueRouting(this.#redis, this.streamKey, this.group, options.routing);
  }

  /** The stream of `model`'s jobs; the jobs key itself for jobs that name no model. */
  streamFor(model: Line | undefined): string {
    return model == null ? this.streamKey : modelStreamKey(this.streamKey, model);
  }

  async enqueue(job: GenerationJob): Promise<void> {
    if (this.#closed) throw new Error('queue is closed');
    const model = modelOf(job) ?? null;
    // The group must exist before the first entry, or an entry added before it would be skipped by a group created at '$'.
    await this.ensureGroup(model);
    if (this.routing && model !== null && job.kind === 'conversation-reply') {
      await this.routing.enqueue(job.conversationId, model, this.streamFor(model), encodeJob(job), this.#maxLength);
      return;
    }
    await this.#redis.xadd(this.streamFor(model), 'MAXLEN', '~', this.#maxLength, '*', 'job', encodeJob(job));
  }

  consume(handler: JobHandler, options: ConsumeOptions): Consumer {
    checkConsumeOptions(options);
    if (this.#closed) throw new Error('queue is closed');
    const consumer = new RedisConsumer(this, this.#redis, handler, options, this.#options, this.#logger);
    const stop = async () => {
      await consumer.stop();
      this.#stops.delete(stop);
    };
    this.#stops.add(stop);
    return { stop };
  }

  async depth(model?: string | null): Promise<number> {
    if (model !== undefined) return this.#lineDepth(model);
    const models = await this.#redis.smembers(modelSetKey(this.streamKey));
    const depths = await Promise.all([null, ...models].map((line) => this.#lineDepth(line)));
    return depths.reduce((sum, depth) => sum + depth, 0);
  }

  /** A model's waiting jobs: in its shared stream and in the streams of the workers its jobs were routed to. */
  async #lineDepth(line: Line): Promise<number> {
    await this.ensureGroup(line);
    const directed = line !== null && this.routing ? await this.routing.directedStreams(line) : [];
    const depths = await Promise.all([this.streamFor(line), ...directed].map((stream) => this.#streamDepth(stream)));
    return depths.reduce((sum, depth) => sum + depth, 0);
  }

  async #streamDepth(stream: string): Promise<number> {
    // A directed stream may be gone (retired since it was listed) or not have its group yet:
    // then every entry in it is waiting.
    const groups = (await this.#redis.xinfo('GROUPS', stream).catch(() => [])) as unknown[][];
    const info = groups.map((raw) => pairs(raw)).find((group) => group.get('name') === this.group);
    if (!info) return this.#redis.xlen(stream);
    const lag = info.get('lag');
    if (typeof lag === 'number') return lag;
    // No lag (Redis can't always tell, e.g. after some deletions): entries in the stream are the
    // waiting ones plus the delivered-but-unacked ones, since acked entries are deleted.
    const [length, pending] = await this.#transaction((multi) => multi.xlen(stream).xpending(stream, this.group));
    const pendingCount = Array.isArray(pending) ? Number(pending[0]) : 0;
    return Math.max(0, Number(length) - pendingCount);
  }

  /** Dead-lettered jobs, oldest first. */
  async deadLetters(count = 100): Promise<DeadJob[]> {
    const entries = (await this.#redis.xrange(this.deadKey, '-', '+', 'COUNT', count)) as StreamEntry[];
    return entries.map(([, fields]) => {
      const info = pairs(fields ?? []);
      const body = String(info.get('job'));
      return {
        job: readable(body),
        body,
        // Entries dead-lettered by an earlier release have no stream: they came from the only one.
        stream: String(info.get('stream') ?? this.streamKey),
        entryId: String(info.get('entryId')),
        deliveries: Number(info.get('deliveries')),
      };
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    if (this.#ownsRedis) await this.#redis.quit();
  }

  /**
   * Creates the line's group (and stream) once; a consumer that meets NOGROUP (stream deleted)
   * resets it. A model's stream is also listed in the models set, which `depth()` sums over.
   */
  ensureGroup(line: Line, reset = false): Promise<void> {
    return this.ensureStreamGroup(this.streamFor(line), reset, line);
  }

  /** The same for any stream of the queue (a worker's directed stream: no `line`, not in the models set). */
  ensureStreamGroup(stream: string, reset = false, line: Line = null): Promise<void> {
    if (reset) this.#groups.delete(stream);
    let created = this.#groups.get(stream);
    if (!created) {
      created = (async () => {
        if (line !== null) await this.#redis.sadd(modelSetKey(this.streamKey), line);
        await this.#redis.xgroup('CREATE', stream, this.group, '0', 'MKSTREAM').catch((error: unknown) => {
          if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
        });
      })();
      const attempt = created;
      attempt.catch(() => {
        if (this.#groups.get(stream) === attempt) this.#groups.delete(stream);
      });
      this.#groups.set(stream, created);
    }
    return created;
  }

  async #transaction(build: (multi: ReturnType<Redis['multi']>) => ReturnType<Redis['multi']>): Promise<unknown[]> {
    const results = await build(this.#redis.multi()).exec();
    if (!results) throw new Error('Redis transaction aborted');
    return results.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }

  /** Moves an entry to the dead-letter stream and out of its group, in one transaction. */
  async deadLetter(stream: string, entryId: string, body: string, deliveries: number): Promise<void> {
    await this.#transaction((multi) =>
      multi
        .xadd(this.deadKey, '*', 'job', body, 'stream', stream, 'entryId', entryId, 'deliveries', String(deliveries))
        .xack(stream, this.group, entryId)
        .xdel(stream, entryId),
    );
  }

  /**
   * Puts back an entry a consumer read but has no slot for, as a new entry at the stream's end
   * (in one transaction): it never ran, so it keeps no delivery.
   */
  async giveBack(stream: string, entryId: string, body: string): Promise<void> {
    await this.#transaction((multi) =>
      multi.xadd(stream, 'MAXLEN', '~', this.#maxLength, '*', 'job', body).xack(stream, this.group, entryId).xdel(stream, entryId),
    );
  }

  /** Settles an entry; a conversation's reply also leaves its routing hint to `consumer`, in the same transaction. */
  async ack(stream: string, entryId: string, job?: GenerationJob, consumer?: string): Promise<void> {
    await this.#transaction((multi) => {
      const acked = multi.xack(stream, this.group, entryId).xdel(stream, entryId);
      return this.routing && consumer && job?.kind === 'conversation-reply' ? this.routing.hint(acked, job.conversationId, consumer) : acked;
    });
  }

  async forgetConsumer(stream: string, consumerName: string): Promise<void> {
    await this.#redis.eval(FORGET_CONSUMER_SCRIPT, 1, stream, this.group, consumerName);
  }

  async touch(stream: string, consumerName: string, entryId: string): Promise<boolean> {
    const held = await this.#redis.eval(TOUCH_SCRIPT, 1, stream, this.group, consumerName, entryId);
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
  readonly #lines: Line[];
  /** This worker's own streams of its models' routed jobs (routing on). */
  readonly #ownDirected: string[];
  readonly #shared: string[];
  /** Streams of workers whose presence lapsed, taken over until emptied: stream → whose. */
  readonly #adopted = new Map<string, { model: string; consumer: string }>();
  #lastOrphanCheck = 0;
  readonly #presenceTimer: NodeJS.Timeout | undefined;
  /** XAUTOCLAIM's cursor, per stream. */
  readonly #claimCursors = new Map<string, string>();
  /** Which stream the non-blocking reads start with, turn by turn, so that none is always last. */
  #turn = 0;

  constructor(
    private readonly queue: RedisJobQueue,
    private readonly redis: Redis,
    private readonly handler: JobHandler,
    private readonly options: ConsumeOptions,
    private readonly queueOptions: QueueOptions,
    private readonly logger: QueueLogger,
  ) {
    this.#slots = new Slots(options.concurrency);
    this.#lines = [...new Set<Line>([...options.models, ...(options.unnamed ? [null] : [])])];
    const routing = queue.routing;
    this.#ownDirected = routing ? options.models.map((model) => directedStreamKey(queue.streamKey, model, options.consumerName)) : [];
    this.#shared = this.#lines.map((line) => queue.streamFor(line));
    if (routing) {
      this.#announce();
      this.#presenceTimer = setInterval(() => this.#announce(), heartbeatInterval(queueOptions.visibilityTimeoutMs));
    }
    // Its reads block for seconds by design: no command timeout (DEPENDENCY_TIMEOUT_MS) here.
    this.#reader = redis.duplicate({ commandTimeout: undefined });
    // Without a listener ioredis prints connection errors itself; the read loop retries anyway.
    this.#reader.on('error', (error: unknown) => logger.warn({ err: error, consumer: options.consumerName }, 'queue reader connection error'));
    this.#loop = this.#run();
  }

  /** Its own routed jobs first: with a slot for only one, a job routed here for its cache goes before a shared one. */
  get #streams(): string[] {
    return [...this.#ownDirected, ...this.#shared, ...this.#adopted.keys()];
  }

  get #directedModels(): readonly string[] {
    return this.queue.routing ? this.options.models : [];
  }

  /** Refreshes this consumer's presence (routing): its capacity and the jobs in hand. */
  #announce(): void {
    if (!this.queue.routing || this.#stopped.signal.aborted) return;
    const { models, concurrency, consumerName } = this.options;
    this.queue.routing
      .announce(models, consumerName, concurrency, concurrency - this.#slots.free, this.queueOptions.visibilityTimeoutMs)
      .catch((error: unknown) => this.logger.warn({ err: error, consumer: consumerName }, 'could not announce the worker for routing'));
  }

  /**
   * Every half visibility timeout: takes over the streams of workers that went away, and deletes
   * those it has emptied. Their pending entries are reclaimed like any other's.
   */
  async #adoptOrphans(): Promise<void> {
    const routing = this.queue.routing;
    if (!routing || Date.now() - this.#lastOrphanCheck < this.queueOptions.visibilityTimeoutMs / 2) return;
    this.#lastOrphanCheck = Date.now();
    for (const [stream, { model, consumer }] of this.#adopted) {
      if (await routing.retire(model, consumer)) {
        this.#adopted.delete(stream);
        this.#claimCursors.delete(stream);
      }
    }
    for (const orphan of await routing.orphans(this.#directedModels, this.options.consumerName)) {
      if (this.#adopted.has(orphan.stream)) continue;
      this.#adopted.set(orphan.stream, orphan);
      this.logger.warn({ consumer: this.options.consumerName, from: orphan.consumer, stream: orphan.stream }, 'taking over the routed jobs of a worker that went away');
    }
  }

  async stop(): Promise<void> {
    if (!this.#stopped.signal.aborted) {
      clearInterval(this.#presenceTimer);
      this.#stopped.abort();
      // Nothing more is routed here, and other workers take what waits in this one's streams.
      await this.queue.routing
        ?.withdraw(this.#directedModels, this.options.consumerName)
        .catch((error: unknown) => this.logger.warn({ err: error, consumer: this.options.consumerName }, 'could not withdraw the worker from routing'));
      this.#slots.wake();
      // Ends a blocked XREADGROUP now rather than after its BLOCK time.
      this.#reader.disconnect();
    }
    await this.#loop;
    await Promise.all(this.#running);
    for (const stream of this.#streams) {
      await this.queue
        .forgetConsumer(stream, this.options.consumerName)
        .catch((error: unknown) => this.logger.warn({ err: error, consumer: this.options.consumerName }, 'could not remove queue consumer'));
    }
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
        await this.#ensureGroups();
        await this.#adoptOrphans();
        if ((await this.#reclaim()) > 0) continue;
        await this.#readNew();
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof Error && error.message.startsWith('NOGROUP')) {
          await this.#ensureGroups(true).catch(() => undefined);
        } else {
          this.logger.warn({ err: error, consumer: this.options.consumerName }, 'queue read failed; retrying');
        }
        await pause(RETRY_DELAY_MS, signal);
      }
    }
  }

  /** Shared streams are created with the models set entry; directed ones, own and adopted, on their own. */
  #ensureGroups(reset = false): Promise<unknown> {
    const shared = this.#lines.map((line) => this.queue.ensureGroup(line, reset));
    const directed = [...this.#ownDirected, ...this.#adopted.keys()].map((stream) => this.queue.ensureStreamGroup(stream, reset));
    return Promise.all([...shared, ...directed]);
  }

  /** Takes over entries idle past the visibility timeout, stream by stream; returns how many it started. */
  async #reclaim(): Promise<number> {
    let started = 0;
    for (const stream of this.#streams) {
      if (this.#slots.free <= 0) break;
      started += await this.#reclaimFrom(stream);
    }
    return started;
  }

  async #reclaimFrom(stream: string): Promise<number> {
    const { group } = this.queue;
    const name = this.options.consumerName;
    const [cursor, claimed] = (await this.redis.xautoclaim(
      stream,
      group,
      name,
      this.queueOptions.visibilityTimeoutMs,
      this.#claimCursors.get(stream) ?? '0-0',
      'COUNT',
      this.#slots.free,
    )) as [string, StreamEntry[], string[]?];
    this.#claimCursors.set(stream, cursor);
    const live = claimed.filter((entry): entry is [string, string[]] => entry[1] !== null);
    if (live.length === 0) return 0;
    // XAUTOCLAIM does not return delivery counts; the PEL has them (already bumped by the claim).
    const pipeline = this.redis.pipeline();
    for (const [id] of live) pipeline.xpending(stream, group, id, id, 1, name);
    const counts = (await pipeline.exec()) ?? [];
    let started = 0;
    for (const [index, [id, fields]] of live.entries()) {
      const row = (counts[index]?.[1] as [string, string, number, number][] | undefined)?.[0];
      // Not ours any more (acked or claimed by another in the meantime): leave it.
      if (!row) continue;
      const deliveries = Number(row[3]);
      const body = fieldValue(fields, 'job');
      if (deliveries > this.queueOptions.maxDeliveries || body === undefined) {
        await this.queue.deadLetter(stream, id, body ?? '', deliveries);
        this.logger.warn({ entryId: id, stream, deliveries }, 'generation job dead-lettered');
        continue;
      }
      if (this.#start(stream, id, body, deliveries)) started += 1;
    }
    return started;
  }

  /**
   * New entries. XREADGROUP's COUNT is per stream, so a consumer of several streams first takes
   * what waits in each, one stream at a time, within its free slots; only when none has anything
   * does it block on all of them at once, for one entry each. An entry beyond the free slots
   * (several streams woke together) is given back rather than held unstarted.
   */
  async #readNew(): Promise<void> {
    const streams = this.#streams;
    if (streams.length === 1) {
      await this.#read(streams, this.#slots.free, this.#blockMs);
      return;
    }
    let read = 0;
    const first = this.#turn++ % streams.length;
    for (const stream of [...streams.slice(first), ...streams.slice(0, first)]) {
      if (this.#slots.free <= 0 || this.#stopped.signal.aborted) return;
      read += await this.#read([stream], this.#slots.free);
    }
    if (read === 0) await this.#read(streams, 1, this.#blockMs);
  }

  /** One XREADGROUP of new entries; returns how many it read. */
  async #read(streams: string[], count: number, blockMs?: number): Promise<number> {
    const reply = (await this.#reader.call(
      'XREADGROUP',
      'GROUP',
      this.queue.group,
      this.options.consumerName,
      'COUNT',
      count,
      ...(blockMs === undefined ? [] : ['BLOCK', blockMs]),
      'STREAMS',
      ...streams,
      ...streams.map(() => '>'),
    )) as [string, StreamEntry[]][] | null;
    let read = 0;
    for (const [stream, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        read += 1;
        const body = fields ? fieldValue(fields, 'job') : undefined;
        if (body === undefined) {
          await this.queue.deadLetter(stream, id, '', 1);
          continue;
        }
        // Read as the consumer was stopping: left pending, reclaimed by another worker after the visibility timeout.
        if (this.#stopped.signal.aborted) return read;
        if (this.#slots.free <= 0) {
          await this.queue.giveBack(stream, id, body);
          continue;
        }
        this.#start(stream, id, body, 1);
      }
    }
    return read;
  }

  #start(stream: string, entryId: string, body: string, attempt: number): boolean {
    let job: GenerationJob;
    try {
      job = parseJob(body);
    } catch (error) {
      // Another delivery would not make it readable: dead-lettered at once, kept for a look.
      this.logger.error({ err: error, entryId, stream }, 'unreadable generation job dead-lettered');
      void this.queue.deadLetter(stream, entryId, body, attempt).catch((failure: unknown) => this.logger.error({ err: failure, entryId }, 'dead-lettering failed'));
      return false;
    }
    this.#slots.take();
    this.#announce();
    const run = runDelivery({
      handler: this.handler,
      job,
      attempt,
      logger: this.logger,
      visibilityTimeoutMs: this.queueOptions.visibilityTimeoutMs,
      ack: () => this.queue.ack(stream, entryId, job, this.options.consumerName),
      heartbeat: async () => {
        if (!(await this.queue.touch(stream, this.options.consumerName, entryId))) {
          this.logger.warn({ entryId, generationId: job.generationId }, 'generation job was reclaimed by another worker');
        }
      },
    }).finally(() => {
      this.#running.delete(run);
      this.#slots.release();
      this.#announce();
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
