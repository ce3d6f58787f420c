/**
 * API and workers as separate processes sharing Redis and DynamoDB, as deployed: jobs spread
 * over workers, a worker killed mid-generation has its jobs finished by the other, a
 * conversation's turns follow the worker holding its cache, and rate limits hold across API
 * processes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfirmSignUpDocument, ConversationDocument, LogInDocument, SendMessageDocument, SignUpDocument } from '../../src/generated/graphql.ts';
import type { GenerationEventFieldsFragment } from '../../src/generated/graphql.ts';
import { postGraphQL, readOutboxCode, uniqueEmail } from '../support/harness.ts';
import { startGptql, startSharedDynamo, type GptqlProcess } from '../support/processes.ts';
import { REDIS_URL } from '../support/services.ts';
import { buildTinyModel } from '../support/tiny-model.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

const prefix = `gptql-test-${crypto.randomUUID().slice(0, 8)}:`;
let dataDir: string;
let dynamo: Awaited<ReturnType<typeof startSharedDynamo>>;
const processes: GptqlProcess[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-multi-'));
  dynamo = await startSharedDynamo();
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await dynamo?.stop();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await fs.rm(dataDir, { recursive: true, force: true });
  for (const cleanup of cleanups) cleanup();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATA_DIR: dataDir,
    PUBLIC_URL: 'http://gptql.test',
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '3',
    AUTH_RATE_LIMIT_PER_IP: '10000',
    RATE_LIMIT_PER_MINUTE: '1000',
    INFERENCE_THREADS: '1',
    ...extra,
  };
}

async function start(role: 'api' | 'worker', extra?: Record<string, string>) {
  const started = await startGptql(role, env(extra));
  processes.push(started);
  return started;
}

async function newUser(apiUrl: string): Promise<string> {
  const email = uniqueEmail('multi');
  const password = 'multi-process-1';
  await postGraphQL(apiUrl, { query: print(SignUpDocument), variables: { email, password } });
  await postGraphQL(apiUrl, { query: print(ConfirmSignUpDocument), variables: { email, code: await readOutboxCode(dataDir, email, 'confirm-sign-up') } });
  const logIn = await postGraphQL<{ logIn: { accessToken: string } }>(apiUrl, { query: print(LogInDocument), variables: { email, password } });
  return logIn.data!.logIn.accessToken;
}

type Event = GenerationEventFieldsFragment;

/** The worker's 'generation completed' log lines (pino JSON) for one generation. */
function completions(output: string, generationId: string): { cachedPromptTokens: number }[] {
  return output
    .split('\n')
    .filter((line) => line.includes('"generation completed"') && line.includes(generationId))
    .map((line) => JSON.parse(line) as { cachedPromptTokens: number });
}

// Vitest runs the file's hooks only when a test in it runs: skipped, this suite starts nothing.
describe.skipIf(!inject('redisAvailable'))('api and workers as separate processes', () => {
  it('finishes every stream, with one reply each, when a worker is killed mid-generation', async () => {
    const api = await start('api');
    const [worker1, worker2] = [await start('worker'), await start('worker')];
    // A worker-only process checks the same dependencies as the API before it calls itself ready.
    for (const process of [api, worker1]) {
      const ready = await fetch(`${process.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });
    }
    const tokens = await Promise.all(Array.from({ length: 20 }, () => newUser(api.url)));

    let seen = 0;
    let killed = false;

    const runs = tokens.map(async (token, i) => {
      const sent = await postGraphQL<{ sendMessage: { id: string; conversation: { id: string } } }>(
        api.url,
        { query: print(SendMessageDocument), variables: { input: { content: `Story number ${i}`, params: { maxTokens: 32, seed: i } } } },
        token,
      );
      const generation = sent.data!.sendMessage;
      const client = wsClient(api.url, token);
      const { GenerationEventsDocument } = await import('../../src/generated/graphql.ts');
      const results = await collectSubscription(client, GenerationEventsDocument, { id: generation.id, after: 0 }, () => {
        if (++seen === 40 && !killed) {
          killed = true;
          worker1.child.kill('SIGKILL');
        }
      });
      await client.dispose();
      return { token, generation, events: results.map((r) => r.data!.generation as Event) };
    });
    const finished = await Promise.all(runs);
    expect(killed).toBe(true);

    for (const { token, generation, events } of finished) {
      const streamed = events.filter((e) => e.__typename === 'GenerationToken') as Extract<Event, { __typename: 'GenerationToken' }>[];
      const last = events.at(-1) as Extract<Event, { __typename: 'GenerationCompleted' }>;
      expect(last.__typename).toBe('GenerationCompleted');
      expect(events.map((e) => e.index)).toEqual(events.map((_, k) => k + 1));
      expect(last.text).toBe(streamed.map((e) => e.delta).join(''));
      const conversation = await postGraphQL<{ conversation: { messages: { edges: { node: { role: string; content: string } }[] } } }>(
        api.url,
        { query: print(ConversationDocument), variables: { id: generation.conversation.id } },
        token,
      );
      const messages = conversation.data!.conversation.messages.edges.map((e) => e.node);
      expect(messages.map((m) => m.role)).toEqual(['USER', 'ASSISTANT']);
      expect(messages[1]!.content).toBe(last.text);
    }
    // The surviving worker took over at least one generation the killed one had started.
    expect(worker2.output()).toContain('resuming a redelivered generation');
    // Real processes on 2 shared cores, a 3 s reclaim, 20 streams: generous, not a timing goal.
  }, 180_000);

  it('sends a conversation’s next turn to the worker holding its cache, and to the other once that one is killed', async () => {
    // The shipped model's graph predates the in-place KV cache, which the prefix cache needs.
    const tiny = buildTinyModel(7, 600);
    cleanups.push(() => tiny.remove());
    const modelEnv = { MODEL_PATH: `tiny=${tiny.dir}` };
    const api = await start('api');
    const workers = [await start('worker', modelEnv), await start('worker', modelEnv)];
    const token = await newUser(api.url);
    const { GenerationEventsDocument } = await import('../../src/generated/graphql.ts');

    /** Sends one turn and waits for its reply; says which worker served it and from how much cache. */
    const turn = async (content: string, conversationId?: string) => {
      const sent = await postGraphQL<{ sendMessage: { id: string; conversation: { id: string } } }>(
        api.url,
        { query: print(SendMessageDocument), variables: { input: { content, conversationId, params: { maxTokens: 12, temperature: 0, model: 'tiny' } } } },
        token,
      );
      const generation = sent.data!.sendMessage;
      const client = wsClient(api.url, token);
      const events = (await collectSubscription(client, GenerationEventsDocument, { id: generation.id, after: 0 })).map((r) => r.data!.generation as Event);
      await client.dispose();
      const last = events.at(-1) as Extract<Event, { __typename: 'GenerationCompleted' }>;
      expect(last.__typename).toBe('GenerationCompleted');
      const served = workers.flatMap((worker, index) => completions(worker.output(), generation.id).map((line) => ({ index, ...line })));
      expect(served).toHaveLength(1);
      return { conversationId: generation.conversation.id, text: last.text, worker: served[0]!.index, cachedPromptTokens: served[0]!.cachedPromptTokens };
    };

    // Each opening differs from its first words, so that no conversation's prompt starts like another's.
    const opening = 'tell me a long story about a lighthouse keeper who finds a message in a bottle on a winter morning.';
    const firsts = [];
    for (let i = 0; i < 4; i++) firsts.push(await turn(`${crypto.randomUUID()}: ${opening}`));
    // Which idle worker takes a job from the shared stream is Redis's choice (the longest blocked,
    // so they alternate): in reverse order, without routing most second turns would change worker.
    for (const first of [...firsts].reverse()) {
      const second = await turn('And then what happened?', first.conversationId);
      expect(second.worker).toBe(first.worker);
      // Its prompt starts with the first turn, which that worker's prefix cache kept.
      expect(second.cachedPromptTokens).toBeGreaterThan(0);
    }

    const { conversationId, worker: holder } = firsts[0]!;
    workers[holder]!.child.kill('SIGKILL');
    await workers[holder]!.stop();
    const third = await turn('How did it end?', conversationId);
    expect(third.worker).toBe(1 - holder);
    expect(third.cachedPromptTokens).toBe(0);
    const conversation = await postGraphQL<{ conversation: { messages: { edges: { node: { role: string; content: string } }[] } } }>(
      api.url,
      { query: print(ConversationDocument), variables: { id: conversationId } },
      token,
    );
    const messages = conversation.data!.conversation.messages.edges.map((e) => e.node);
    expect(messages.map((m) => m.role)).toEqual(['USER', 'ASSISTANT', 'USER', 'ASSISTANT', 'USER', 'ASSISTANT']);
    expect(messages[5]!.content).toBe(third.text);
  }, 120_000);

  it('lets exactly the limit through across two API processes sharing Redis', async () => {
    const limited = { RATE_LIMIT_PER_MINUTE: '60', REDIS_KEY_PREFIX: `${prefix}rl:` };
    const apis = [await start('api', limited), await start('api', limited)];
    const token = await newUser(apis[0]!.url);
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fetch(`${apis[i % 2]!.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: print(SendMessageDocument), variables: { input: { content: `hello ${i}` } } }),
        }).then(async (response) => ({ response, body: (await response.json()) as { data?: unknown; errors?: { extensions: { code: string; retryAfter?: number } }[] } })),
      ),
    );
    const ok = responses.filter((r) => r.body.data && !r.body.errors);
    const refused = responses.filter((r) => r.body.errors?.[0]?.extensions.code === 'RATE_LIMITED');
    expect(ok).toHaveLength(60);
    expect(refused).toHaveLength(40);
    for (const { response } of ok) {
      expect(response.headers.get('x-ratelimit-limit')).toBe('60');
      expect(Number(response.headers.get('x-ratelimit-remaining'))).toBeLessThan(60);
      expect(Number(response.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    }
    for (const { response, body } of refused) {
      expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(body.errors![0]!.extensions.retryAfter).toBeGreaterThan(0);
    }
    // Each process counts the refusals it made; which process made them depends on timing.
    const exceeded = await Promise.all(
      apis.map(async (api) => Number(/^rate_limit_exceeded_total (\d+)/m.exec(await (await fetch(`${api.url}/metrics`)).text())?.[1] ?? 0)),
    );
    expect(exceeded[0]! + exceeded[1]!).toBe(40);
  });
});
