/**
 * Conversation routing on the Redis queue: a conversation's next turn goes to the worker that
 * served its last one, whose engine keeps that conversation's KV cache (the prefix cache), when
 * that worker is alive and has room; to any worker otherwise. It is a hint: nothing depends on it.
 *
 * - When a worker acknowledges a conversation reply it leaves a hint, conversation → its consumer
 *   name, that lapses after `hintTtlMs` (`<jobs>:route:<conversation>`).
 * - Each consumer keeps a presence per model it serves (`<jobs>:presence:<model>:<consumer>`, a
 *   hash of its capacity and the jobs in hand) that lapses after one visibility timeout without a
 *   heartbeat: the queue's own measure of a dead worker.
 * - A hinted job goes to that worker's own stream of the model (`directedStreamKey`), which only
 *   it reads, if its presence is there and its jobs in hand plus those waiting for it leave room;
 *   the check and the XADD are one script, so a worker cannot be chosen after it went away.
 * - The streams of workers whose presence lapsed (killed, or stopped) are taken over by the others:
 *   their waiting entries are read, their pending ones reclaimed after the visibility timeout as
 *   on any stream, and the emptied stream is deleted. A job directed to a worker that died waits
 *   at most about one visibility timeout, as a job it had started would.
 *
 * The scripts build key names from the jobs key rather than take them all as KEYS: like the rest
 * of the queue (MULTI across streams), this assumes one Redis node, not a cluster.
 */
import type { Redis } from 'ioredis';

export interface RoutingOptions {
  /** How long a conversation's hint lasts after its last turn; about as long as a prefix cache keeps a conversation. */
  hintTtlMs: number;
}

/** A worker's own stream of one model's jobs: those routed to it. Model names hold no `:` (MODEL_NAME). */
export const directedStreamKey = (streamKey: string, model: string, consumer: string) => `${streamKey}:model:${model}:worker:${consumer}`;
export const presenceKey = (streamKey: string, model: string, consumer: string) => `${streamKey}:presence:${model}:${consumer}`;
/** The consumers that have a stream of their own for `model`, alive or not. */
export const directedSetKey = (streamKey: string, model: string) => `${streamKey}:workers:${model}`;
export const routeHintKey = (streamKey: string, conversationId: string) => `${streamKey}:route:${conversationId}`;

/**
 * KEYS: the hint, the model's shared stream. ARGV: jobs key, model, job body, MAXLEN, group.
 * Returns the stream the job went to.
 */
const ENQUEUE_SCRIPT = `
local target = KEYS[2]
local worker = redis.call('GET', KEYS[1])
if worker then
  local prefix = ARGV[1]
  local presence = redis.call('HMGET', prefix .. ':presence:' .. ARGV[2] .. ':' .. worker, 'capacity', 'busy')
  if presence[1] then
    local stream = prefix .. ':model:' .. ARGV[2] .. ':worker:' .. worker
    local waiting = 0
    if redis.call('EXISTS', stream) == 1 then
      local pending = redis.pcall('XPENDING', stream, ARGV[5])
      -- No group yet (the worker is recreating it): every entry is waiting.
      waiting = redis.call('XLEN', stream) - (type(pending) == 'table' and pending[1] or 0)
    end
    if tonumber(presence[2]) + waiting < tonumber(presence[1]) then target = stream end
  end
end
redis.call('XADD', target, 'MAXLEN', '~', ARGV[4], '*', 'job', ARGV[3])
return target
`;

/**
 * Deletes a lapsed worker's stream once it holds nothing (acked entries are deleted, so an empty
 * stream has none waiting or in flight), in one step with the check that the worker is still away.
 * KEYS: its presence, its stream, the model's set of directed streams. ARGV: the worker's name.
 */
const RETIRE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('XLEN', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`;

export class QueueRouting {
  constructor(
    private readonly redis: Redis,
    private readonly streamKey: string,
    private readonly group: string,
    readonly options: RoutingOptions,
  ) {
    if (!(options.hintTtlMs > 0)) throw new RangeError('hintTtlMs must be positive');
  }

  /** XADDs a conversation's job to the worker its hint names, if that worker has room, else to `sharedStream`. */
  async enqueue(conversationId: string, model: string, sharedStream: string, body: string, maxLength: number): Promise<string> {
    const hint = routeHintKey(this.streamKey, conversationId);
    return (await this.redis.eval(ENQUEUE_SCRIPT, 2, hint, sharedStream, this.streamKey, model, body, maxLength, this.group)) as string;
  }

  /** The commands that leave a conversation's hint, for the acknowledgement's transaction. */
  hint(multi: ReturnType<Redis['multi']>, conversationId: string, consumer: string): ReturnType<Redis['multi']> {
    return multi.set(routeHintKey(this.streamKey, conversationId), consumer, 'PX', this.options.hintTtlMs);
  }

  /** Says a consumer is alive, with its capacity and the jobs it holds, for one `ttlMs`. */
  async announce(models: readonly string[], consumer: string, capacity: number, busy: number, ttlMs: number): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const model of models) {
      const key = presenceKey(this.streamKey, model, consumer);
      pipeline.hset(key, 'capacity', capacity, 'busy', busy).pexpire(key, ttlMs).sadd(directedSetKey(this.streamKey, model), consumer);
    }
    await pipeline.exec();
  }

  /** Takes a stopping consumer's presence away at once, so that nothing more is routed to it and others take its stream. */
  async withdraw(models: readonly string[], consumer: string): Promise<void> {
    if (models.length === 0) return;
    await this.redis.del(...models.map((model) => presenceKey(this.streamKey, model, consumer)));
  }

  /** The directed streams of `models` whose worker's presence has lapsed, `self` excepted. */
  async orphans(models: readonly string[], self: string): Promise<{ model: string; consumer: string; stream: string }[]> {
    const found: { model: string; consumer: string; stream: string }[] = [];
    for (const model of models) {
      const others = (await this.redis.smembers(directedSetKey(this.streamKey, model))).filter((name) => name !== self);
      if (others.length === 0) continue;
      const pipeline = this.redis.pipeline();
      for (const consumer of others) pipeline.exists(presenceKey(this.streamKey, model, consumer));
      const alive = (await pipeline.exec()) ?? [];
      others.forEach((consumer, index) => {
        if (alive[index]?.[1] === 0) found.push({ model, consumer, stream: directedStreamKey(this.streamKey, model, consumer) });
      });
    }
    return found;
  }

  /** Deletes a lapsed worker's stream if it is empty; true when it did. */
  async retire(model: string, consumer: string): Promise<boolean> {
    const keys = [presenceKey(this.streamKey, model, consumer), directedStreamKey(this.streamKey, model, consumer), directedSetKey(this.streamKey, model)];
    return (await this.redis.eval(RETIRE_SCRIPT, 3, ...keys, consumer)) === 1;
  }

  /** The directed streams of `model` (alive workers' and lapsed ones' alike), for the queue's depth. */
  async directedStreams(model: string): Promise<string[]> {
    const consumers = await this.redis.smembers(directedSetKey(this.streamKey, model));
    return consumers.map((consumer) => directedStreamKey(this.streamKey, model, consumer));
  }
}
