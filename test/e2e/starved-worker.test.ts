/**
 * A worker that is alive but starved past the visibility timeout (here: SIGSTOP) loses its job
 * to another worker. When it wakes up it must not write to the generation any more: the other
 * worker owns it now, and one generation has one writer. Real processes (an api, two workers)
 * sharing Redis and DynamoDB, as deployed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConversationDocument, SendMessageDocument, GenerationEventsDocument, type GenerationEventFieldsFragment } from '../../src/generated/graphql.ts';
import { modelStreamKey } from '../../src/queue/names.ts';
import type { StreamEvent } from '../../src/streams/events.ts';
import { postGraphQL, rawIdOf, signUpUser } from '../support/harness.ts';
import { startGptql, startSharedDynamo, type GptqlProcess } from '../support/processes.ts';
import { REDIS_URL } from '../support/services.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

const VISIBILITY_TIMEOUT_SECONDS = 2;
const LOST_LEASE = 'lost the generation to another worker; stopping';
const prefix = `gptql-test-starved-${crypto.randomUUID().slice(0, 8)}:`;
let dataDir: string;
let dynamo: Awaited<ReturnType<typeof startSharedDynamo>>;
let redis: Redis;
const processes: GptqlProcess[] = [];

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-starved-'));
  dynamo = await startSharedDynamo();
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await dynamo?.stop();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await fs.rm(dataDir, { recursive: true, force: true });
});

async function start(role: 'api' | 'worker'): Promise<GptqlProcess> {
  const started = await startGptql(role, {
    DATA_DIR: dataDir,
    PUBLIC_URL: 'http://gptql.test',
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_TIMEOUT_SECONDS),
    INFERENCE_THREADS: '1',
  });
  processes.push(started);
  return started;
}

/** Polls `condition` until it holds; fails with `what` after `ms`. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The worker process whose queue consumer holds the generation's job (its name embeds the pid):
 * in the default model's stream, or in that of jobs naming no model if the API sent it before
 * any worker had announced its models.
 */
async function holderOf(workers: GptqlProcess[]): Promise<GptqlProcess | undefined> {
  const streams = [modelStreamKey(`${prefix}jobs`, 'default'), `${prefix}jobs`];
  const pending = (
    await Promise.all(streams.map((stream) => redis.xpending(stream, 'workers', '-', '+', 10).catch(() => []) as Promise<[string, string, number, number][]>))
  ).flat();
  return workers.find((worker) => pending.some(([, consumer]) => consumer.includes(`-${worker.child.pid}-`)));
}

type Event = GenerationEventFieldsFragment;

describe.skipIf(!inject('redisAvailable'))('a worker starved past the visibility timeout', () => {
  it('stops writing once another worker has taken its generation over', async () => {
    const [api, ...workers] = await Promise.all([start('api'), start('worker'), start('worker')]);
    const user = await signUpUser(api.url, dataDir);
    const sent = await postGraphQL<{ sendMessage: { id: string; conversation: { id: string } } }>(
      api.url,
      { query: print(SendMessageDocument), variables: { input: { content: 'Tell me a long story.', params: { maxTokens: 200, seed: 7 } } } },
      user.accessToken,
    );
    const generation = sent.data!.sendMessage;

    // Stopped as soon as its first tokens are out, so that it is mid-generation when it loses the job.
    let starved: Promise<GptqlProcess> | undefined;
    const client = wsClient(api.url, user.accessToken);
    const streamed = collectSubscription(client, GenerationEventsDocument, { id: generation.id, after: 0 }, () => {
      starved ??= holderOf(workers).then((holder) => {
        if (!holder) throw new Error('no worker holds the job');
        holder.child.kill('SIGSTOP');
        return holder;
      });
    });
    await waitFor('the first event', () => starved !== undefined, 20_000);
    const late = await starved!;
    const other = workers.find((worker) => worker !== late)!;
    try {
      await waitFor('the other worker to take the generation over', () => other.output().includes('resuming a redelivered generation'), 20_000);
    } finally {
      late.child.kill('SIGCONT');
    }
    const events = (await streamed).map((result) => result.data!.generation as Event);
    await client.dispose();

    // Woken, the late worker either steps aside or (unfenced) writes on to an end of its own. Wait
    // for one or the other; the assertions below tell which.
    const log = async () => (await redis.lrange(`${prefix}gen:${rawIdOf(generation.id)}:events`, 0, -1)).map((item) => JSON.parse(item) as StreamEvent);
    const secondEnd = async () => (await log()).filter((event) => event.kind !== 'token').length > 1;
    await waitFor('the late worker to stop or to write its own end', async () => late.output().includes(LOST_LEASE) || (await secondEnd()), 15_000).catch(() => undefined);

    const indexes = events.map((event) => event.index);
    expect(indexes).toEqual(indexes.map((_, k) => k + 1));
    expect(events.filter((event) => event.__typename !== 'GenerationToken').map((event) => event.__typename)).toEqual(['GenerationCompleted']);
    expect(events.at(-1)!.__typename).toBe('GenerationCompleted');
    const stored = await log();
    expect(stored.map((event) => [event.index, event.kind, event.kind === 'token' ? event.delta : ''])).toEqual(
      events.map((event) => [event.index, event.__typename === 'GenerationToken' ? 'token' : 'completed', event.__typename === 'GenerationToken' ? event.delta : '']),
    );
    const completed = events.at(-1) as Extract<Event, { __typename: 'GenerationCompleted' }>;
    const conversation = await postGraphQL<{ conversation: { messages: { edges: { node: { role: string; content: string } }[] } } }>(
      api.url,
      { query: print(ConversationDocument), variables: { id: generation.conversation.id } },
      user.accessToken,
    );
    const messages = conversation.data!.conversation.messages.edges.map((edge) => edge.node);
    expect(messages.map((message) => message.role)).toEqual(['USER', 'ASSISTANT']);
    expect(messages[1]!.content).toBe(completed.text);
    expect(late.output()).toContain(LOST_LEASE);
  }, 60_000);
});
