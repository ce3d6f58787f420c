/**
 * What conversation routing costs on the Redis queue, side by side in one run: the time to enqueue
 * a conversation's turn without routing (one XADD), with routing and no hint, and with a hint to
 * a live worker that has room (the script reads the hint and the presence, then XADDs); and the
 * Redis memory of one hint. Nothing consumes the jobs: only the enqueue is timed.
 *
 *   npm run bench:routing [-- --jobs 5000]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { ConversationReplyJob } from '../src/queue/job.ts';
import { RedisJobQueue } from '../src/queue/queue-redis.ts';
import { routeHintKey } from '../src/queue/redis-routing.ts';
import { REDIS_URL, deleteKeys } from './redis-keys.ts';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '5000' } } });
const jobs = Number(values.jobs);
const MODEL = 'bench';

const job = (conversationId: string): ConversationReplyJob => ({
  kind: 'conversation-reply',
  generationId: randomUUID(),
  userId: 'bench-user',
  enqueuedAt: new Date().toISOString(),
  params: { model: MODEL, maxTokens: 256, temperature: 0.7 },
  conversationId,
  replyMessageId: randomUUID(),
  parentMessageId: randomUUID(),
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function measure(label: string, queue: RedisJobQueue, conversations: string[]) {
  const times: number[] = [];
  for (let i = 0; i < jobs; i++) {
    const started = process.hrtime.bigint();
    await queue.enqueue(job(conversations[i % conversations.length]!));
    times.push(Number(process.hrtime.bigint() - started) / 1e3);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((sum, t) => sum + t, 0) / times.length;
  return { label, mean, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

const redis = new Redis(REDIS_URL);
const prefix = `bench:routing:${randomUUID().slice(0, 8)}:`;
try {
  const options = { visibilityTimeoutMs: 600_000, maxDeliveries: 3, redis, maxLength: jobs * 4 };
  const plain = new RedisJobQueue({ ...options, streamKey: `${prefix}plain` });
  const routed = new RedisJobQueue({ ...options, streamKey: `${prefix}routed`, routing: { hintTtlMs: 600_000 } });
  const conversations = Array.from({ length: 500 }, () => randomUUID());
  // A live worker with room that the hinted conversations point to.
  await routed.routing!.announce([MODEL], 'worker-1', 1_000_000, 0, 600_000);
  const hinted = Array.from({ length: 500 }, () => randomUUID());
  for (const conversation of hinted) await redis.set(routeHintKey(routed.streamKey, conversation), 'worker-1', 'PX', 600_000);

  // Warm-up, so that connection set-up and script loading are not counted.
  for (let i = 0; i < 200; i++) {
    await plain.enqueue(job(randomUUID()));
    await routed.enqueue(job(hinted[i % hinted.length]!));
  }
  const rows = [
    await measure('no routing (XADD)', plain, conversations),
    await measure('routing, no hint', routed, conversations),
    await measure('routing, hint to a worker with room', routed, hinted),
  ];
  const base = rows[0]!.mean;
  console.log(`enqueue of a conversation turn, ${jobs} jobs each, sequential (µs):`);
  console.log('| case | mean | p50 | p99 | vs XADD |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.label} | ${row.mean.toFixed(1)} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${(row.mean / base).toFixed(2)}× |`);
  const hintBytes = await redis.memory('USAGE', routeHintKey(routed.streamKey, hinted[0]!));
  console.log(`Redis memory of one hint: ${hintBytes} bytes (a 36-character conversation id, a consumer name, a TTL)`);
  await plain.close();
  await routed.close();
} finally {
  await deleteKeys(redis, prefix);
  await redis.quit();
}
