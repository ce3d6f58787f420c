/**
 * Runs the shared JobQueue contract against each adapter on a real backend: in-process, the Redis
 * at REDIS_URL (skipped, and named by the run, when none answers), and fauxqs (an SQS emulator
 * speaking the AWS JSON 1.0 protocol the current SDK uses) started in this process on 127.0.0.1.
 * Then what only one adapter has.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { GenerationJob, QueueOptions } from './queue.ts';
import { MODEL_A, MODEL_B, jobQueueContract, makeJob, waitFor, type QueueHarness } from '../../test/contracts/queue.contract.ts';
import { deleteKeys as deleteRedisKeys, redisForFile } from '../../test/support/redis-keys.ts';
import { REDIS_URL } from '../../test/support/services.ts';
import { createQueue } from './queue-factory.ts';
import { MemoryJobQueue } from './queue-memory.ts';
import { RedisJobQueue } from './queue-redis.ts';
import { encodeJob, parseJob } from './job.ts';
import { modelQueueUrl, modelSetKey, sqsQueueName } from './names.ts';
import { SqsJobQueue } from './queue-sqs.ts';

const redisAvailable = inject('redisAvailable');

// ---------------------------------------------------------------- in-process

jobQueueContract('memory', async () => {
  const options: QueueOptions = { visibilityTimeoutMs: 300, maxDeliveries: 3 };
  const queue = new MemoryJobQueue(options);
  return { queue, options, deadLetters: async () => queue.deadLetters(), cleanup: async () => {} };
});

// ---------------------------------------------------------------- Redis Streams

// File-level, for the Redis tests below; the other adapters' tests run without a Redis.
const redis = redisForFile();
/** Every key a test made starts with its prefix, so parallel runs don't collide and cleanup finds them all. */
const deleteKeys = (prefix: string) => deleteRedisKeys(redis, prefix);

function redisHarness(options: QueueOptions): QueueHarness & { queue: RedisJobQueue; prefix: string } {
  const prefix = `test:queue:${randomUUID()}:`;
  const queue = new RedisJobQueue({ ...options, redis: REDIS_URL, streamKey: `${prefix}jobs`, group: 'workers' });
  return {
    queue,
    options,
    prefix,
    deadLetters: async () => (await queue.deadLetters()).flatMap((dead) => (dead.job ? [dead.job] : [])),
    cleanup: () => deleteKeys(prefix),
  };
}

describe.skipIf(!redisAvailable)('Redis Streams', () => {
  jobQueueContract('redis', async () => redisHarness({ visibilityTimeoutMs: 500, maxDeliveries: 3 }));
});

describe('MemoryJobQueue', () => {
  it('refuses a job no worker could read to its producer, and keeps nothing of it', async () => {
    const queue = new MemoryJobQueue({ visibilityTimeoutMs: 1_000, maxDeliveries: 3 });
    const malformed = { ...makeJob(), params: { temperature: 'hot' } } as unknown as GenerationJob;
    await expect(queue.enqueue(malformed)).rejects.toThrow(/^generation job refused: params\.temperature: /);
    expect(await queue.depth()).toBe(0);
    await queue.close();
  });
});

describe.skipIf(!redisAvailable).concurrent('RedisJobQueue', () => {
  it('dead-letters a job it cannot read at once, with a log line saying why, and never runs it', async () => {
    const logged: { object: object; message: string }[] = [];
    const logger = { warn: (object: object, message: string) => logged.push({ object, message }), error: (object: object, message: string) => logged.push({ object, message }) };
    const prefix = `test:queue:${randomUUID()}:`;
    const queue = new RedisJobQueue({ visibilityTimeoutMs: 60_000, maxDeliveries: 5, redis: REDIS_URL, streamKey: `${prefix}jobs`, logger });
    const good = makeJob();
    // What a newer API release or a broken producer might put on the stream.
    const unknownKind = JSON.stringify({ ...makeJob(), kind: 'summary' });
    const malformed = JSON.stringify({ ...makeJob(), params: { temperature: 'hot' } });
    const seen: string[] = [];
    const consumer = queue.consume(
      async (delivery) => {
        seen.push(delivery.job.generationId);
        await delivery.ack();
      },
      { concurrency: 2, consumerName: 'w1', models: [MODEL_A], unnamed: true },
    );
    try {
      // On the stream of jobs that name no model, as an earlier release's would be.
      await redis.xadd(queue.streamKey, '*', 'job', unknownKind);
      await redis.xadd(queue.streamKey, '*', 'job', malformed);
      await queue.enqueue(good);
      await waitFor(async () => (await queue.deadLetters()).length === 2 && seen.length === 1);
      expect(seen).toEqual([good.generationId]);
      const dead = await queue.deadLetters();
      expect(dead.map((entry) => [entry.body, entry.job, entry.deliveries])).toEqual([
        [unknownKind, undefined, 1],
        [malformed, undefined, 1],
      ]);
      const refusals = logged.filter((line) => line.message === 'unreadable generation job dead-lettered');
      expect(refusals.map((line) => String((line.object as { err: Error }).err.message))).toEqual([
        expect.stringMatching(/^generation job refused: kind: /),
        expect.stringMatching(/^generation job refused: params\.temperature: /),
      ]);
    } finally {
      await consumer.stop();
      await queue.close();
      await deleteKeys(prefix);
    }
  });

  it('keeps the stream small: acked entries are deleted, dead ones moved with their delivery count', async () => {
    const harness = redisHarness({ visibilityTimeoutMs: 300, maxDeliveries: 1 });
    const { queue, prefix } = harness;
    try {
      const good = makeJob();
      const poison = makeJob();
      const seen: string[] = [];
      const consumer = queue.consume(
        async (delivery) => {
          seen.push(delivery.job.generationId);
          if (delivery.job.generationId === good.generationId) await delivery.ack();
        },
        { concurrency: 2, consumerName: 'w1', models: [MODEL_A] },
      );
      await queue.enqueue(good);
      await queue.enqueue(poison);
      await waitFor(async () => (await queue.deadLetters()).length === 1);
      await consumer.stop();
      expect(seen.sort()).toEqual([good.generationId, poison.generationId].sort());
      const stream = queue.streamFor(MODEL_A);
      expect(stream).toBe(`${prefix}jobs:model:${MODEL_A}`);
      expect(await redis.xlen(stream)).toBe(0);
      const [dead] = await queue.deadLetters();
      expect(dead?.job).toStrictEqual(poison);
      expect(dead?.stream).toBe(stream);
      expect(dead?.deliveries).toBe(2);
      expect((await redis.keys(`${prefix}*`)).sort()).toEqual([queue.deadKey, stream, modelSetKey(queue.streamKey)].sort());
      expect(await redis.smembers(modelSetKey(queue.streamKey))).toEqual([MODEL_A]);
    } finally {
      await queue.close();
      await harness.cleanup();
    }
  });

  it('leaves the caller’s client open on close and ends a blocked read promptly on stop', async () => {
    const prefix = `test:queue:${randomUUID()}:`;
    const client = new Redis(REDIS_URL);
    const queue = new RedisJobQueue({ visibilityTimeoutMs: 30_000, maxDeliveries: 3, redis: client, streamKey: `${prefix}jobs` });
    try {
      const consumer = queue.consume(async () => {}, { concurrency: 1, consumerName: 'idle', models: [MODEL_A] });
      await waitFor(async () => (await redis.exists(queue.streamFor(MODEL_A))) === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await consumer.stop();
      // BLOCK would be 5 s at this visibility timeout; disconnecting ends it now.
      expect(Date.now() - started).toBeLessThan(1_000);
      // A stopped consumer holding nothing is removed from the group.
      expect(await redis.xinfo('CONSUMERS', queue.streamFor(MODEL_A), 'workers')).toEqual([]);
      await queue.close();
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
      await deleteKeys(prefix);
    }
  });
});

describe.skipIf(!redisAvailable)('RedisJobQueue with several streams', () => {
  it('gives back an entry read beyond the free slots: undelivered, at the stream’s end, delivered again as attempt 1', async () => {
    const harness = redisHarness({ visibilityTimeoutMs: 60_000, maxDeliveries: 3 });
    const { queue } = harness;
    try {
      const [early, late] = [makeJob(), makeJob()];
      await queue.enqueue(early);
      await queue.enqueue(late);
      const stream = queue.streamFor(MODEL_A);
      const reply = (await redis.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 1, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
      const [id, fields] = reply[0]![1][0]!;
      await queue.giveBack(stream, id, fields[1]!);
      expect(await redis.xpending(stream, 'workers')).toEqual([0, null, null, null]);
      const seen: { id: string; attempt: number }[] = [];
      const consumer = queue.consume(
        async (delivery) => {
          seen.push({ id: delivery.job.generationId, attempt: delivery.attempt });
          await delivery.ack();
        },
        { concurrency: 1, consumerName: 'w2', models: [MODEL_A] },
      );
      await waitFor(() => seen.length === 2);
      await consumer.stop();
      expect(seen).toEqual([
        { id: late.generationId, attempt: 1 },
        { id: early.generationId, attempt: 1 },
      ]);
    } finally {
      await queue.close();
      await harness.cleanup();
    }
  });

  it('holds no entry it has no slot for when several streams wake it at once', async () => {
    const harness = redisHarness({ visibilityTimeoutMs: 60_000, maxDeliveries: 3 });
    const { queue } = harness;
    const first = makeJob({ params: { model: MODEL_A } });
    const second = makeJob({ params: { model: MODEL_B } });
    const deliveries: { id: string; attempt: number }[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const consumer = queue.consume(
      async (delivery) => {
        deliveries.push({ id: delivery.job.generationId, attempt: delivery.attempt });
        await gate;
        await delivery.ack();
      },
      { concurrency: 1, consumerName: 'w1', models: [MODEL_A, MODEL_B] },
    );
    try {
      // Blocked on both streams with one slot: one transaction fills both. Redis 7.2+ answers the
      // read with both entries (the second is given back), earlier ones with the first only.
      // (Redis lists a consumer only once it has been given an entry: the streams' existence and a pause have to do.)
      await waitFor(async () => (await redis.exists(queue.streamFor(MODEL_A), queue.streamFor(MODEL_B))) === 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.multi().xadd(queue.streamFor(MODEL_A), '*', 'job', encodeJob(first)).xadd(queue.streamFor(MODEL_B), '*', 'job', encodeJob(second)).exec();
      await waitFor(() => deliveries.length === 1);
      // The other entry waits in its stream, delivered to no one, for another worker to take.
      const waiting = deliveries[0]!.id === first.generationId ? queue.streamFor(MODEL_B) : queue.streamFor(MODEL_A);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await redis.xlen(waiting)).toBe(1);
      expect(await redis.xpending(waiting, 'workers')).toEqual([0, null, null, null]);
      release();
      await waitFor(() => deliveries.length === 2);
      expect(deliveries.map((d) => d.attempt)).toEqual([1, 1]);
      expect(new Set(deliveries.map((d) => d.id))).toEqual(new Set([first.generationId, second.generationId]));
    } finally {
      release();
      await consumer.stop();
      await queue.close();
      await harness.cleanup();
    }
  });
});

// ---------------------------------------------------------------- SQS

let sqsServer: ReturnType<typeof buildApp>;
let sqsEndpoint: string;
/** Test-side client (create/delete queues, look into the DLQ); each adapter gets its own. */
let sqsAdmin: SQSClient;
const sqsClientConfig = () => ({ endpoint: sqsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

beforeAll(async () => {
  sqsServer = buildApp({ logger: false });
  await sqsServer.listen({ host: '127.0.0.1', port: 0 });
  const { port } = sqsServer.server.address() as AddressInfo;
  sqsEndpoint = `http://127.0.0.1:${port}`;
  sqsAdmin = new SQSClient(sqsClientConfig());
});
afterAll(async () => {
  sqsAdmin?.destroy();
  await sqsServer?.close();
});

async function createSqsQueues(maxReceiveCount: number | undefined) {
  const name = `test-${randomUUID()}`;
  const dlq = await sqsAdmin.send(new CreateQueueCommand({ QueueName: `${name}-dead` }));
  const dlqUrl = dlq.QueueUrl as string;
  const { Attributes } = await sqsAdmin.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const attributes: Record<string, string> = {};
  if (maxReceiveCount !== undefined) {
    attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: Attributes?.QueueArn, maxReceiveCount: String(maxReceiveCount) });
  }
  const main = await sqsAdmin.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const queueUrl = main.QueueUrl as string;
  // Each model's queue, named as the adapter derives it, dead-lettering to the same DLQ.
  const modelQueueUrls: string[] = [];
  for (const model of [MODEL_A, MODEL_B]) {
    const created = await sqsAdmin.send(new CreateQueueCommand({ QueueName: sqsQueueName(modelQueueUrl(queueUrl, model)), Attributes: attributes }));
    expect(created.QueueUrl).toBe(modelQueueUrl(queueUrl, model));
    modelQueueUrls.push(created.QueueUrl as string);
  }
  return {
    queueUrl,
    dlqUrl,
    /** Peeks: VisibilityTimeout 0 leaves the messages where they are. */
    async deadLetters(): Promise<GenerationJob[]> {
      const { Messages = [] } = await sqsAdmin.send(
        new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }),
      );
      return Messages.map((message) => parseJob(message.Body ?? ''));
    },
    async cleanup() {
      for (const url of [queueUrl, ...modelQueueUrls, dlqUrl]) await sqsAdmin.send(new DeleteQueueCommand({ QueueUrl: url }));
    },
  };
}

jobQueueContract('sqs', async () => {
  // SQS counts visibility in whole seconds; 1 s is the least it can do.
  const options: QueueOptions = { visibilityTimeoutMs: 1_000, maxDeliveries: 3 };
  const queues = await createSqsQueues(options.maxDeliveries);
  const queue = new SqsJobQueue({ ...options, queueUrl: queues.queueUrl, client: sqsClientConfig(), waitTimeSeconds: 1 });
  return { queue, options, deadLetters: queues.deadLetters, cleanup: queues.cleanup };
});

describe.concurrent('SqsJobQueue', () => {
  it('sends the documented requests and reads the attempt from ApproximateReceiveCount', async () => {
    const queues = await createSqsQueues(3);
    const client = new SQSClient(sqsClientConfig());
    const sent: Array<{ command: string; input: Record<string, unknown> }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ command: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    const queue = new SqsJobQueue({ visibilityTimeoutMs: 1_500, maxDeliveries: 3, queueUrl: queues.queueUrl, client, waitTimeSeconds: 1 });
    try {
      const job = makeJob();
      const attempts: number[] = [];
      const consumer = queue.consume(
        async (delivery) => {
          attempts.push(delivery.attempt);
          // Outlives one visibility timeout, so at least one heartbeat goes out.
          await new Promise((resolve) => setTimeout(resolve, 1_100));
          await delivery.ack();
        },
        { concurrency: 4, consumerName: 'w1', models: [MODEL_A] },
      );
      await queue.enqueue(job);
      await waitFor(() => sent.some((s) => s.command === 'DeleteMessageCommand'));
      await consumer.stop();
      expect(await queue.depth()).toBe(0);
      expect(attempts).toEqual([1]);

      const byCommand = (name: string) => sent.filter((s) => s.command === name).map((s) => s.input);
      // The job's model has a queue of its own, named after the configured one.
      const modelUrl = modelQueueUrl(queues.queueUrl, MODEL_A);
      expect(modelUrl).toBe(queues.queueUrl.replace(/\/(test-[^/]+)$/, `/$1-${MODEL_A}`));
      expect(byCommand('SendMessageCommand')).toEqual([{ QueueUrl: modelUrl, MessageBody: JSON.stringify(job) }]);
      expect(byCommand('ReceiveMessageCommand')[0]).toEqual({
        QueueUrl: modelUrl,
        MaxNumberOfMessages: 4,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 2,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      });
      const visibility = byCommand('ChangeMessageVisibilityCommand');
      expect(visibility.length).toBeGreaterThan(0);
      expect(visibility[0]).toEqual({ QueueUrl: modelUrl, ReceiptHandle: expect.any(String), VisibilityTimeout: 2 });
      expect(byCommand('DeleteMessageCommand')).toEqual([{ QueueUrl: modelUrl, ReceiptHandle: visibility[0]?.ReceiptHandle }]);
      // The total: the queue of jobs naming no model, and that of each model this process used.
      expect(byCommand('GetQueueAttributesCommand')).toEqual([
        { QueueUrl: queues.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] },
        { QueueUrl: modelUrl, AttributeNames: ['ApproximateNumberOfMessages'] },
      ]);
    } finally {
      await queue.close();
      client.destroy();
      await queues.cleanup();
    }
  });

  it('dead-letters itself when the queue has no redrive policy but a deadLetterQueueUrl is given', async () => {
    const queues = await createSqsQueues(undefined);
    const queue = new SqsJobQueue({
      visibilityTimeoutMs: 1_000,
      maxDeliveries: 2,
      queueUrl: queues.queueUrl,
      deadLetterQueueUrl: queues.dlqUrl,
      client: sqsClientConfig(),
      waitTimeSeconds: 1,
    });
    try {
      const job = makeJob();
      const attempts: number[] = [];
      queue.consume(
        async (delivery) => {
          attempts.push(delivery.attempt);
        },
        { concurrency: 1, consumerName: 'w1', models: [MODEL_A] },
      );
      await queue.enqueue(job);
      await waitFor(async () => (await queues.deadLetters()).length === 1);
      expect(attempts).toEqual([1, 2]);
      expect(await queues.deadLetters()).toStrictEqual([job]);
      expect(await queue.depth()).toBe(0);
    } finally {
      await queue.close();
      await queues.cleanup();
    }
  });
});

// ---------------------------------------------------------------- factory

describe('createQueue', () => {
  const base: QueueOptions = { visibilityTimeoutMs: 1_000, maxDeliveries: 3 };

  it('chooses SQS when a queue URL is set, even with Redis configured', async () => {
    const queue = createQueue({ ...base, sqs: { queueUrl: `${sqsEndpoint}/000000000000/x`, region: 'us-east-1' }, redis: { connection: REDIS_URL, streamKey: `test:queue:${randomUUID()}:jobs` } });
    expect(queue).toBeInstanceOf(SqsJobQueue);
    await queue.close();
  });

  it.skipIf(!redisAvailable)('chooses Redis Streams when Redis is configured', async () => {
    const queue = createQueue({ ...base, redis: { connection: REDIS_URL, streamKey: `test:queue:${randomUUID()}:jobs` } });
    expect(queue.kind).toBe('redis');
    await queue.close();
  });

  it('falls back to the in-process queue', async () => {
    const queue = createQueue(base);
    expect(queue.kind).toBe('memory');
    await queue.close();
  });
});
