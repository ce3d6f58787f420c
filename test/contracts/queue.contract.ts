/**
 * The behaviour every JobQueue adapter must have, as one suite run against each of them
 * (`queue.test.ts`). Timings scale with the harness's visibility timeout so that slow backends
 * (SQS counts visibility in whole seconds) and fast ones share the same assertions.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import type { StatelessGenerationJob } from '../../src/queue/job.ts';
import type { ConsumeOptions, Consumer, DeliveredJob, GenerationJob, JobHandler, JobQueue, QueueOptions } from '../../src/queue/queue.ts';

/** The models contract jobs are for; the second has a dot, which SQS queue names do not allow. */
export const MODEL_A = 'model-a';
export const MODEL_B = 'model.b';

export interface QueueHarness {
  queue: JobQueue;
  /** What the queue was created with. */
  options: QueueOptions;
  /** Jobs in the backend's dead-letter store (without consuming them). */
  deadLetters(): Promise<GenerationJob[]>;
  /** Removes what the test left in the backend (keys, queues). Called after the queue is closed. */
  cleanup(): Promise<void>;
}

/** What one contract test works with: its own queue on its own backend keys or queues. */
interface TestBed {
  queue: JobQueue;
  harness: QueueHarness;
  visibility: number;
  consume(handler: JobHandler, options?: Partial<ConsumeOptions>): Consumer;
  enqueueAll(count: number): Promise<GenerationJob[]>;
}

/**
 * Registers the contract for one adapter. Tests run concurrently (each on its own queue), since
 * most of their time is spent waiting out visibility timeouts.
 */
export function jobQueueContract(name: string, createHarness: () => Promise<QueueHarness>): void {
  function it(title: string, body: (bed: TestBed) => Promise<void>): void {
    test(title, async () => {
      const harness = await createHarness();
      const { queue } = harness;
      const consumers: Consumer[] = [];
      const bed: TestBed = {
        queue,
        harness,
        visibility: harness.options.visibilityTimeoutMs,
        consume(handler, options = {}) {
          const consumer = queue.consume(handler, { concurrency: 1, consumerName: `consumer-${consumers.length + 1}`, models: [MODEL_A], ...options });
          consumers.push(consumer);
          return consumer;
        },
        async enqueueAll(count) {
          const jobs = Array.from({ length: count }, (_, i) => makeJob({ input: { prompt: String(i) } }));
          // In small parallel batches: fast, and close enough to enqueue order.
          for (let i = 0; i < jobs.length; i += 20) await Promise.all(jobs.slice(i, i + 20).map((job) => queue.enqueue(job)));
          return jobs;
        },
      };
      try {
        await body(bed);
      } finally {
        await Promise.all(consumers.map((consumer) => consumer.stop()));
        await queue.close();
        await harness.cleanup();
      }
    });
  }

  describe.concurrent(`JobQueue contract: ${name}`, () => {
    it('delivers a job with every field intact, on its first attempt', async ({ queue, consume, visibility }) => {
      const job: GenerationJob = {
        kind: 'conversation-reply',
        generationId: randomUUID(),
        userId: 'user-1',
        enqueuedAt: new Date().toISOString(),
        conversationId: 'conv-1',
        replyMessageId: 'msg-2',
        parentMessageId: 'msg-1',
        params: {
          stop: ['héllo 👋 "quoted" \\ back\nslash\u0000', ''],
          temperature: 1.5,
          seed: Number.MAX_SAFE_INTEGER,
          topK: 0,
          topP: null,
          minP: 0.05,
          model: MODEL_A,
        },
      };
      const delivered = deferred<DeliveredJob>();
      consume(async (delivery) => {
        await delivery.ack();
        delivered.resolve(delivery);
      });
      await queue.enqueue(job);
      const delivery = await delivered.promise;
      expect(delivery.job).toStrictEqual(job);
      expect(delivery.attempt).toBe(1);
      expect(delivery.visibilityTimeoutMs).toBe(visibility);
    });

    it('delivers in enqueue order to a single consumer', async ({ queue, consume }) => {
      const jobs = Array.from({ length: 10 }, (_, i) => makeJob({ input: { prompt: String(i) } }));
      for (const job of jobs) await queue.enqueue(job);
      const seen: string[] = [];
      consume(async (delivery) => {
        seen.push(delivery.job.generationId);
        await delivery.ack();
      });
      await waitFor(() => seen.length === jobs.length);
      expect(seen).toEqual(jobs.map((job) => job.generationId));
    });

    it('runs at most `concurrency` handlers at once', async ({ consume, enqueueAll }) => {
      let active = 0;
      let peak = 0;
      let done = 0;
      consume(
        async (delivery) => {
          active += 1;
          peak = Math.max(peak, active);
          await sleep(60);
          active -= 1;
          await delivery.ack();
          done += 1;
        },
        { concurrency: 3 },
      );
      await enqueueAll(12);
      await waitFor(() => done === 12);
      expect(peak).toBe(3);
    });

    it('does not deliver an acknowledged job again', async ({ queue, visibility, consume }) => {
      const deliveries: number[] = [];
      consume(async (delivery) => {
        deliveries.push(delivery.attempt);
        await delivery.ack();
      });
      await queue.enqueue(makeJob());
      await waitFor(() => deliveries.length === 1);
      await sleep(visibility * 2.5);
      expect(deliveries).toEqual([1]);
      expect(await queue.depth()).toBe(0);
    });

    it('redelivers an unacknowledged job to another consumer after the visibility timeout, as attempt 2', async ({ queue, visibility, consume }) => {
      const job = makeJob();
      const first = deferred<{ attempt: number; at: number }>();
      const a = consume(
        async (delivery) => {
          // Returns without acking, like a worker that lost the job.
          first.resolve({ attempt: delivery.attempt, at: Date.now() });
        },
        { consumerName: 'worker-a' },
      );
      await queue.enqueue(job);
      const { attempt: firstAttempt, at: firstAt } = await first.promise;
      expect(firstAttempt).toBe(1);
      await a.stop();

      const second = deferred<{ delivery: DeliveredJob; at: number }>();
      let deliveriesToB = 0;
      consume(
        async (delivery) => {
          deliveriesToB += 1;
          await delivery.ack();
          second.resolve({ delivery, at: Date.now() });
        },
        { consumerName: 'worker-b' },
      );
      const { delivery, at } = await second.promise;
      expect(delivery.job).toStrictEqual(job);
      expect(delivery.attempt).toBe(2);
      // A little slack for timer granularity; never early by more than that.
      expect(at - firstAt).toBeGreaterThanOrEqual(visibility - 50);
      await sleep(visibility * 1.5);
      expect(deliveriesToB).toBe(1);
    });

    it('redelivers a job whose handler threw', async ({ queue, consume }) => {
      const attempts: number[] = [];
      let acked = false;
      consume(async (delivery) => {
        attempts.push(delivery.attempt);
        if (delivery.attempt === 1) throw new Error('transient failure');
        await delivery.ack();
        acked = true;
      });
      await queue.enqueue(makeJob());
      await waitFor(() => acked);
      expect(attempts).toEqual([1, 2]);
    });

    it('dead-letters a job after maxDeliveries and delivers it no more', async ({ queue, harness, visibility, consume }) => {
      const { maxDeliveries } = harness.options;
      const job = makeJob();
      const attempts: number[] = [];
      consume(async (delivery) => {
        attempts.push(delivery.attempt);
        throw new Error('poison job');
      });
      await queue.enqueue(job);
      await waitFor(async () => (await harness.deadLetters()).some((dead) => dead.generationId === job.generationId), {
        timeoutMs: visibility * (maxDeliveries + 3) + 5_000,
      });
      await sleep(visibility * 1.5);
      expect(attempts).toEqual(Array.from({ length: maxDeliveries }, (_, i) => i + 1));
      expect((await harness.deadLetters()).map((dead) => dead.generationId)).toEqual([job.generationId]);
      expect(await queue.depth()).toBe(0);
    });

    it('never has two consumers run the same job at once', async ({ consume, enqueueAll }) => {
      const active = new Set<string>();
      const processed = new Map<string, number>();
      let overlaps = 0;
      const handler: JobHandler = async (delivery) => {
        const id = delivery.job.generationId;
        if (active.has(id)) overlaps += 1;
        active.add(id);
        await sleep(10 + Math.random() * 40);
        active.delete(id);
        await delivery.ack();
        processed.set(id, (processed.get(id) ?? 0) + 1);
      };
      consume(handler, { concurrency: 3, consumerName: 'worker-a' });
      consume(handler, { concurrency: 3, consumerName: 'worker-b' });
      const jobs = await enqueueAll(30);
      await waitFor(() => processed.size === jobs.length);
      expect(overlaps).toBe(0);
      expect([...processed.values()].every((count) => count === 1)).toBe(true);
    });

    it('keeps a long-running job from being redelivered while its handler runs (heartbeat)', async ({ queue, visibility, consume }) => {
      const deliveries: string[] = [];
      let finished = false;
      const handler: JobHandler = async (delivery) => {
        deliveries.push(delivery.job.generationId);
        await sleep(visibility * 3);
        await delivery.ack();
        finished = true;
      };
      consume(handler, { concurrency: 2, consumerName: 'worker-a' });
      consume(handler, { concurrency: 2, consumerName: 'worker-b' });
      await queue.enqueue(makeJob());
      await waitFor(() => finished, { timeoutMs: visibility * 6 + 5_000 });
      await sleep(visibility * 1.5);
      expect(deliveries).toHaveLength(1);
    });

    it('counts waiting jobs in depth(), not those being handled', async ({ queue, consume, enqueueAll }) => {
      expect(await queue.depth()).toBe(0);
      await enqueueAll(5);
      await waitFor(async () => (await queue.depth()) === 5);
      const gate = deferred<void>();
      let started = 0;
      let done = 0;
      consume(
        async (delivery) => {
          started += 1;
          await gate.promise;
          await delivery.ack();
          done += 1;
        },
        { concurrency: 2 },
      );
      await waitFor(() => started === 2);
      await waitFor(async () => (await queue.depth()) === 3);
      gate.resolve();
      await waitFor(() => done === 5);
      await waitFor(async () => (await queue.depth()) === 0);
    });

    it('stop() waits for handlers in flight and takes no job after', async ({ queue, visibility, consume, enqueueAll }) => {
      const events: string[] = [];
      let started = 0;
      const consumer = consume(
        async (delivery) => {
          started += 1;
          await sleep(300);
          await delivery.ack();
          events.push(`done ${delivery.job.generationId}`);
        },
        { concurrency: 2 },
      );
      const jobs = await enqueueAll(2);
      await waitFor(() => started === 2);
      await consumer.stop();
      events.push('stopped');
      expect(events.slice(-1)).toEqual(['stopped']);
      expect(events).toHaveLength(3);
      expect(new Set(events.slice(0, 2))).toEqual(new Set(jobs.map((job) => `done ${job.generationId}`)));

      await queue.enqueue(makeJob());
      await sleep(Math.max(300, visibility));
      expect(started).toBe(2);
      expect(await queue.depth()).toBe(1);
    });

    it('routes a job only to consumers serving its model; it waits for one', async ({ queue, visibility, consume }) => {
      const forA = makeJob();
      const forB = makeJob({ params: { model: MODEL_B } });
      const seenByA: string[] = [];
      consume(
        async (delivery) => {
          seenByA.push(delivery.job.generationId);
          await delivery.ack();
        },
        { consumerName: 'serves-a', concurrency: 4 },
      );
      await queue.enqueue(forB);
      await queue.enqueue(forA);
      await waitFor(() => seenByA.length === 1);
      await sleep(visibility * 1.5);
      expect(seenByA).toEqual([forA.generationId]);
      expect(await queue.depth(MODEL_B)).toBe(1);
      expect(await queue.depth(MODEL_A)).toBe(0);

      const seenByB = deferred<GenerationJob>();
      consume(
        async (delivery) => {
          await delivery.ack();
          seenByB.resolve(delivery.job);
        },
        { consumerName: 'serves-b', models: [MODEL_B] },
      );
      expect(await seenByB.promise).toStrictEqual(forB);
      expect(seenByA).toEqual([forA.generationId]);
      await waitFor(async () => (await queue.depth()) === 0);
    });

    it('keeps each model’s jobs to its consumers under load, and jobs naming no model to the consumer that takes them', async ({ queue, consume }) => {
      const seen = new Map<string, string[]>();
      const handler =
        (name: string): JobHandler =>
        async (delivery) => {
          seen.set(name, [...(seen.get(name) ?? []), delivery.job.params.model ?? 'none']);
          await sleep(Math.random() * 5);
          await delivery.ack();
        };
      consume(handler('a'), { consumerName: 'serves-a', concurrency: 3 });
      consume(handler('b+unnamed'), { consumerName: 'serves-b', models: [MODEL_B], unnamed: true, concurrency: 3 });
      const jobs = Array.from({ length: 30 }, (_, i) => makeJob({ params: i % 3 === 0 ? { model: MODEL_A } : i % 3 === 1 ? { model: MODEL_B } : {} }));
      for (const job of jobs) await queue.enqueue(job);
      await waitFor(() => [...seen.values()].flat().length === jobs.length, { timeoutMs: 20_000 });
      expect(new Set(seen.get('a'))).toEqual(new Set([MODEL_A]));
      expect(seen.get('a')).toHaveLength(10);
      expect([...(seen.get('b+unnamed') ?? [])].sort()).toEqual([...Array(10).fill(MODEL_B), ...Array(10).fill('none')].sort());
    });

    it('gives a consumer of several models and of unnamed jobs all of them, within its concurrency', async ({ queue, visibility, consume }) => {
      let active = 0;
      let peak = 0;
      const processed = new Map<string, number>();
      consume(
        async (delivery) => {
          active += 1;
          peak = Math.max(peak, active);
          await sleep(30);
          active -= 1;
          await delivery.ack();
          processed.set(delivery.job.generationId, (processed.get(delivery.job.generationId) ?? 0) + 1);
        },
        { consumerName: 'serves-all', models: [MODEL_A, MODEL_B], unnamed: true, concurrency: 2 },
      );
      const jobs = Array.from({ length: 12 }, (_, i) => makeJob({ params: i % 3 === 0 ? { model: MODEL_A } : i % 3 === 1 ? { model: MODEL_B } : {} }));
      await Promise.all(jobs.map((job) => queue.enqueue(job)));
      await waitFor(() => processed.size === jobs.length, { timeoutMs: 20_000 });
      await sleep(visibility * 1.5);
      expect(peak).toBeLessThanOrEqual(2);
      expect([...processed.values()].filter((count) => count !== 1)).toEqual([]);
      expect(await queue.depth()).toBe(0);
    });

    it('processes 200 jobs across two consumers, each exactly once', async ({ queue, visibility, consume, enqueueAll }) => {
      const processed = new Map<string, number>();
      const handler: JobHandler = async (delivery) => {
        await sleep(Math.random() * 5);
        await delivery.ack();
        processed.set(delivery.job.generationId, (processed.get(delivery.job.generationId) ?? 0) + 1);
      };
      consume(handler, { concurrency: 8, consumerName: 'worker-a' });
      consume(handler, { concurrency: 8, consumerName: 'worker-b' });
      const jobs = await enqueueAll(200);
      await waitFor(() => processed.size === jobs.length, { timeoutMs: 20_000 });
      // Anything acked too late would come back after a visibility timeout.
      await sleep(visibility * 1.5);
      expect(processed.size).toBe(200);
      expect([...processed.values()].filter((count) => count !== 1)).toEqual([]);
      expect(await queue.depth()).toBe(0);
    });
  });
}

export function makeJob(overrides: Partial<StatelessGenerationJob> = {}): StatelessGenerationJob {
  return {
    kind: 'stateless',
    generationId: randomUUID(),
    userId: 'user-1',
    enqueuedAt: new Date().toISOString(),
    params: { model: MODEL_A },
    input: { prompt: 'hello' },
    ...overrides,
  };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, { timeoutMs = 10_000, intervalMs = 20 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
