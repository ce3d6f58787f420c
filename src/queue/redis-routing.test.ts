/**
 * Conversation routing on the Redis queue, against the Redis at REDIS_URL: a conversation's next
 * turn goes to the worker that acknowledged its last one while that worker is alive and has room,
 * and to anyone otherwise; a worker that stops announcing itself has its routed jobs taken over.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { MODEL_A, jobQueueContract, waitFor } from '../../test/contracts/queue.contract.ts';
import { deleteKeys as deleteRedisKeys, redisForFile } from '../../test/support/redis-keys.ts';
import { REDIS_URL } from '../../test/support/services.ts';
import type { ConversationReplyJob } from './job.ts';
import { RedisJobQueue } from './queue-redis.ts';
import type { Consumer, DeliveredJob } from './queue.ts';
import { directedSetKey, directedStreamKey, presenceKey, routeHintKey } from './redis-routing.ts';

const redisAvailable = inject('redisAvailable');
const HINT_TTL_MS = 60_000;

const redis = redisForFile();
const deleteKeys = (prefix: string) => deleteRedisKeys(redis, prefix);

function replyJob(conversationId: string): ConversationReplyJob {
  return {
    kind: 'conversation-reply',
    generationId: randomUUID(),
    userId: 'user-1',
    enqueuedAt: new Date().toISOString(),
    params: { model: MODEL_A },
    conversationId,
    replyMessageId: randomUUID(),
    parentMessageId: randomUUID(),
  };
}

/** A queue with routing on, and workers on it that record which jobs they ran. */
function routedQueue(visibilityTimeoutMs = 60_000) {
  const prefix = `test:routing:${randomUUID()}:`;
  const queue = new RedisJobQueue({ visibilityTimeoutMs, maxDeliveries: 3, redis: REDIS_URL, streamKey: `${prefix}jobs`, routing: { hintTtlMs: HINT_TTL_MS } });
  const ran = new Map<string, string>();
  const consumers: Consumer[] = [];
  const worker = (name: string, concurrency = 4, handle: (delivery: DeliveredJob) => Promise<void> = (delivery) => delivery.ack()) => {
    const consumer = queue.consume(
      async (delivery) => {
        ran.set(delivery.job.generationId, name);
        await handle(delivery);
      },
      { concurrency, consumerName: name, models: [MODEL_A] },
    );
    consumers.push(consumer);
    return consumer;
  };
  const runOn = async (job: ConversationReplyJob) => {
    await queue.enqueue(job);
    await waitFor(() => ran.has(job.generationId));
    return ran.get(job.generationId);
  };
  const close = async () => {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await queue.close();
    await deleteKeys(prefix);
  };
  return { prefix, queue, ran, worker, runOn, close };
}

describe.skipIf(!redisAvailable)('Redis Streams with routing on', () => {
  // The shared contract holds unchanged when every consumer also reads a stream of its own.
  jobQueueContract('redis routed', async () => {
    const prefix = `test:routing:${randomUUID()}:`;
    const options = { visibilityTimeoutMs: 500, maxDeliveries: 3 };
    const queue = new RedisJobQueue({ ...options, redis: REDIS_URL, streamKey: `${prefix}jobs`, routing: { hintTtlMs: HINT_TTL_MS } });
    return {
      queue,
      options,
      deadLetters: async () => (await queue.deadLetters()).flatMap((dead) => (dead.job ? [dead.job] : [])),
      cleanup: () => deleteKeys(prefix),
    };
  });
});

describe.skipIf(!redisAvailable).concurrent('conversation routing', () => {
  it('sends every next turn to the worker that served the conversation, while it has room', async () => {
    const { queue, worker, runOn, close } = routedQueue();
    try {
      worker('w1');
      worker('w2');
      const conversations = Array.from({ length: 6 }, () => randomUUID());
      const first = new Map<string, string>();
      for (const conversation of conversations) first.set(conversation, (await runOn(replyJob(conversation)))!);
      for (let turn = 0; turn < 3; turn++) {
        for (const conversation of conversations) expect(await runOn(replyJob(conversation))).toBe(first.get(conversation));
      }
      // The hint is the acknowledging worker's name, lapsing after the configured time.
      const hint = routeHintKey(queue.streamKey, conversations[0]!);
      expect(await redis.get(hint)).toBe(first.get(conversations[0]!));
      expect(await redis.pttl(hint)).toBeGreaterThan(HINT_TTL_MS - 5_000);
    } finally {
      await close();
    }
  });

  it('sends the turn to any worker when the hinted one is full, unknown or gone', async () => {
    const { queue, worker, runOn, close } = routedQueue();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    try {
      // w1 holds one job and has room for no other.
      worker('w1', 1, async (delivery) => {
        if (delivery.job.kind === 'conversation-reply' && delivery.job.conversationId === 'busy') await held;
        await delivery.ack();
      });
      const conversation = randomUUID();
      expect(await runOn(replyJob(conversation))).toBe('w1');
      worker('w2');
      // Only w1 takes the 'busy' job, still held, so w1's presence says it is full.
      await redis.set(routeHintKey(queue.streamKey, 'busy'), 'w1');
      const busy = replyJob('busy');
      expect(await runOn(busy)).toBe('w1');
      await waitFor(async () => (await redis.hget(presenceKey(queue.streamKey, MODEL_A, 'w1'), 'busy')) === '1');
      expect(await runOn(replyJob(conversation))).toBe('w2');
      release();
      // A hint naming a worker that never announced itself routes nowhere special.
      await redis.set(routeHintKey(queue.streamKey, conversation), 'nobody');
      await runOn(replyJob(conversation));
      expect(await redis.exists(directedStreamKey(queue.streamKey, MODEL_A, 'nobody'))).toBe(0);
    } finally {
      release();
      await close();
    }
  });

  it('has the routed jobs of a worker that stopped announcing itself taken over, and its stream retired', async () => {
    const visibilityTimeoutMs = 600;
    const { queue, worker, runOn, close } = routedQueue(visibilityTimeoutMs);
    try {
      // A worker that announced itself and died: its presence lapses after one visibility timeout.
      await queue.routing!.announce([MODEL_A], 'dead', 4, 0, visibilityTimeoutMs);
      const conversation = randomUUID();
      await redis.set(routeHintKey(queue.streamKey, conversation), 'dead');
      const job = replyJob(conversation);
      await queue.enqueue(job);
      const orphaned = directedStreamKey(queue.streamKey, MODEL_A, 'dead');
      expect(await redis.xlen(orphaned)).toBe(1);
      expect(await queue.depth(MODEL_A)).toBe(1);
      worker('w2');
      await waitFor(async () => (await queue.depth(MODEL_A)) === 0);
      // Taken over after the presence lapsed, then the emptied stream is deleted and forgotten.
      expect(await runOn(job)).toBe('w2');
      await waitFor(async () => (await redis.exists(orphaned)) === 0);
      expect(await redis.smembers(directedSetKey(queue.streamKey, MODEL_A))).toEqual(['w2']);
      // The conversation now follows w2.
      expect(await runOn(replyJob(conversation))).toBe('w2');
      expect(await redis.get(routeHintKey(queue.streamKey, conversation))).toBe('w2');
    } finally {
      await close();
    }
  });

  it('withdraws a stopped worker at once, and leaves stateless jobs on the shared stream', async () => {
    const { queue, worker, runOn, close } = routedQueue();
    try {
      const w1 = worker('w1');
      const conversation = randomUUID();
      expect(await runOn(replyJob(conversation))).toBe('w1');
      expect(await redis.exists(presenceKey(queue.streamKey, MODEL_A, 'w1'))).toBe(1);
      await w1.stop();
      expect(await redis.exists(presenceKey(queue.streamKey, MODEL_A, 'w1'))).toBe(0);
      // The hint still names w1, which is gone: the job waits on the shared stream for anyone.
      const next = replyJob(conversation);
      await queue.enqueue(next);
      expect(await redis.xlen(queue.streamFor(MODEL_A))).toBe(1);
      worker('w2');
      expect(await runOn(next)).toBe('w2');
    } finally {
      await close();
    }
  });
});
