/**
 * The fan-out benchmark's publisher, a process of its own (as a worker is in production), run
 * by `fanout-publisher.ts` over IPC. It writes generations and their token events through the
 * real Redis stream store (`append`: log, then PUBLISH), so the api process sees exactly what a
 * worker's events look like. Its timers and Redis round trips stay off the api's and the
 * clients' event loops.
 */
import { Redis } from 'ioredis';
import { createRedisStreamStore } from '../src/streams/stream-store-redis.ts';
import { completedEvent } from '../test/support/stream-events.ts';
import type { PublisherReply, PublisherRequest } from './fanout-publisher.ts';

// The rate is kept by publishing, every tick, the events due since the start; a shorter tick
// publishes in smaller bursts but costs the publisher more wake-ups.
const TICK_MS = 5;

const redis = new Redis(process.env.REDIS_URL!);
const store = createRedisStreamStore({ redis, ttlSeconds: 600, prefix: process.env.REDIS_KEY_PREFIX! });
/** Index of the last event appended, and the lease token appends carry, per generation of the current round. */
let generations = new Map<string, { last: number; token: number }>();

const send = (reply: PublisherReply) => process.send!(reply);
const now = () => performance.timeOrigin + performance.now();

/** Appends one event to each generation in turn at `rate` events/s in all, for `seconds`. */
async function publish(rate: number, seconds: number): Promise<{ published: number; seconds: number }> {
  const ids = [...generations.keys()];
  const total = Math.round(rate * seconds);
  const inFlight = new Set<Promise<void>>();
  let published = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((rate * (performance.now() - start)) / 1000));
      for (; published < due; published++) {
        const id = ids[published % ids.length]!;
        const generation = generations.get(id)!;
        const index = ++generation.last;
        // The client subtracts this from its receipt time: publish-to-receipt latency.
        const append = store.append(id, generation.token, { kind: 'token', index, delta: String(now()) });
        inFlight.add(append);
        void append.finally(() => inFlight.delete(append));
      }
      if (published === total) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  await Promise.all(inFlight);
  return { published, seconds: (performance.now() - start) / 1000 };
}

process.on('message', async (request: PublisherRequest) => {
  switch (request.type) {
    case 'create': {
      const createdAt = new Date().toISOString();
      await Promise.all(request.generations.map(({ generationId, userId }) => store.create({ generationId, userId, status: 'RUNNING', createdAt })));
      // Written as a worker writes them: under the generation's lease, for as long as the round can last.
      const leased = await Promise.all(request.generations.map(async ({ generationId }) => [generationId, { last: 0, token: await store.claim(generationId, 'fanout-publisher', 600_000) }] as const));
      generations = new Map(leased);
      return send({ type: 'created' });
    }
    case 'publish':
      return send({ type: 'published', ...(await publish(request.rate, request.seconds)) });
    case 'complete':
      await Promise.all([...generations].map(([id, { last, token }]) => store.append(id, token, completedEvent(last + 1))));
      return send({ type: 'completed' });
    case 'stop':
      await store.close();
      redis.disconnect();
      process.exit(0);
  }
});
send({ type: 'ready' });
