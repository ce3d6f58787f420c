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
import {
  CancelGenerationDocument,
  ConfirmSignUpDocument,
  ConversationDocument,
  CreateApiKeyDocument,
  CreateConversationDocument,
  GenerateDocument,
  GenerateStreamDocument,
  GenerationEventsDocument,
  LogInDocument,
  MeDocument,
  MyUsageDocument,
  RegenerateDocument,
  RevokeApiKeyDocument,
  SearchDocument,
  SendMessageDocument,
  SetUserQuotaDocument,
  SignUpDocument,
  UsageReportDocument,
} from '../../src/generated/graphql.ts';
import type { GenerationEventFieldsFragment } from '../../src/generated/graphql.ts';
import { postGraphQL, rawIdOf, readOutboxCode, uniqueEmail } from '../support/harness.ts';
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

async function newUser(apiUrl: string, email = uniqueEmail('multi')): Promise<string> {
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
      // The worker logs before it streams the end, but its log reaches us through a pipe, which can lag the stream.
      const servedBy = () => workers.flatMap((worker, index) => completions(worker.output(), rawIdOf(generation.id)).map((line) => ({ index, ...line })));
      await expect.poll(() => servedBy().length, { timeout: 5_000 }).toBeGreaterThan(0);
      const served = servedBy();
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

  it('counts every generation once in the usage ledger, across 2 APIs and 2 workers, one of them killed mid-stream', async () => {
    const adminEmail = uniqueEmail('usage-admin');
    // A prefix of its own: the workers of the tests above must not take these jobs.
    const shared = { REDIS_KEY_PREFIX: `${prefix}usage:`, ADMIN_EMAILS: adminEmail, QUOTA_USERS_TOKENS_PER_DAY: '100000000', WS_MAX_CONNECTIONS_PER_USER: '50' };
    const apis = [await start('api', shared), await start('api', shared)];
    const workers = [await start('worker', shared), await start('worker', shared)];
    const api = (i: number) => apis[i % 2]!.url;
    const admin = await newUser(api(0), adminEmail);
    const users = await Promise.all(Array.from({ length: 10 }, (_, i) => newUser(api(i))));
    /** Each user's generations' usage, as their completions reported it. */
    const reported = users.map(() => [] as number[]);
    const gql = async <T>(i: number, token: string, document: Parameters<typeof print>[0], variables: Record<string, unknown>) => {
      const response = await postGraphQL<T>(api(i), { query: print(document), variables }, token);
      if (!response.data) throw new Error(JSON.stringify(response.errors));
      return response.data;
    };
    /** A conversation the user titled: no title job runs in it, so the ledger holds exactly the generations asked for. */
    const titled = async (i: number, token: string) =>
      (await gql<{ createConversation: { id: string } }>(i, token, CreateConversationDocument, { input: { title: 'Usage' } })).createConversation.id;
    let tokensSeen = 0;
    let killed = false;
    const follow = async (i: number, token: string, id: string, onToken?: () => void) => {
      const client = wsClient(api(i), token);
      const results = await collectSubscription(client, GenerationEventsDocument, { id, after: 0 }, (r) => {
        if (r.data?.generation.__typename !== 'GenerationToken') return;
        onToken?.();
        if (++tokensSeen === 60 && !killed) {
          killed = true;
          workers[0]!.child.kill('SIGKILL');
        }
      });
      await client.dispose();
      const last = results.at(-1)!.data!.generation as Extract<Event, { __typename: 'GenerationCompleted' }>;
      expect(last.__typename).toBe('GenerationCompleted');
      return last;
    };

    // 50 generations of every kind at once: replies, regenerated replies, deterministic
    // `generate` calls (the repeats answered from the response cache), streams, cancellations.
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const u = i % 10;
        const token = users[u]!;
        const record = (usage: { promptTokens: number; completionTokens: number }) => reported[u]!.push(usage.promptTokens + usage.completionTokens);
        switch (i % 5) {
          case 0: {
            const sent = await gql<{ sendMessage: { id: string } }>(i, token, SendMessageDocument, { input: { conversationId: await titled(i, token), content: `Story ${i}`, params: { maxTokens: 40, seed: i } } });
            const reply = await follow(i, token, sent.sendMessage.id);
            record(reply.usage);
            const again = await gql<{ regenerate: { id: string } }>(i + 1, token, RegenerateDocument, { messageId: reply.message!.id, params: { maxTokens: 20, seed: i } });
            return record((await follow(i + 1, token, again.regenerate.id)).usage);
          }
          case 1:
          case 2: {
            const done = await gql<{ generate: { usage: { promptTokens: number; completionTokens: number } } }>(i, token, GenerateDocument, { input: { prompt: 'The same question', params: { maxTokens: 16, temperature: 0 } } });
            return record(done.generate.usage);
          }
          case 3: {
            const client = wsClient(api(i), token);
            const results = await collectSubscription(client, GenerateStreamDocument, { input: { prompt: `Stream ${i}`, params: { maxTokens: 30, seed: i } } });
            await client.dispose();
            const last = results.at(-1)!.data!.generateStream as Extract<Event, { __typename: 'GenerationCompleted' }>;
            expect(last.__typename).toBe('GenerationCompleted');
            return record(last.usage);
          }
          default: {
            const sent = await gql<{ sendMessage: { id: string } }>(i, token, SendMessageDocument, { input: { conversationId: await titled(i, token), content: `Long story ${i}`, params: { maxTokens: 300, seed: i } } });
            let asked = false;
            const stopped = await follow(i, token, sent.sendMessage.id, () => {
              if (asked) return;
              asked = true;
              void postGraphQL(api(i + 1), { query: print(CancelGenerationDocument), variables: { id: sent.sendMessage.id } }, token);
            });
            return record(stopped.usage);
          }
        }
      }),
    );
    expect(killed).toBe(true);
    expect(workers[1]!.output()).toContain('resuming a redelivered generation');

    // Then 200 requests at once across the 10 users, on a fresh second worker.
    workers.push(await start('worker', shared));
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const done = await gql<{ generate: { usage: { promptTokens: number; completionTokens: number } } }>(i, users[i % 10]!, GenerateDocument, { input: { prompt: `Question ${i}`, params: { maxTokens: 6, seed: i } } });
        reported[i % 10]!.push(done.generate.usage.promptTokens + done.generate.usage.completionTokens);
      }),
    );

    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const today = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()));
    const byUser = (await gql<{ usageReport: { edges: { node: { key: string; totalTokens: number; requests: number } }[] } }>(1, admin, UsageReportDocument, {
      from: today.toISOString(),
      to: new Date(today.getTime() + 86_400_000).toISOString(),
      groupBy: 'USER',
      first: 100,
    })).usageReport.edges.map((e) => e.node);
    for (const [u, token] of users.entries()) {
      const expected = { totalTokens: sum(reported[u]!), requests: reported[u]!.filter((n) => n > 0).length };
      const usage = (await gql<{ me: { usage: { day: { totalTokens: number; requests: number } } } }>(u + 1, token, MyUsageDocument, {})).me.usage.day;
      expect(usage, `user ${u}`).toMatchObject(expected);
      const userId = (await gql<{ me: { id: string } }>(u, token, MeDocument, {})).me.id;
      expect(byUser.find((row) => row.key === userId), `user ${u} in the report`).toMatchObject(expected);
    }

    // An override set through one API process is in force on the other at once.
    const limited = users[0]!;
    const limitedId = (await gql<{ me: { id: string } }>(0, limited, MeDocument, {})).me.id;
    await gql(0, admin, SetUserQuotaDocument, { userId: limitedId, tokensPerDay: 1 });
    const refused = await postGraphQL(api(1), { query: print(GenerateDocument), variables: { input: { prompt: 'x' } } }, limited);
    expect(refused.errors?.[0]?.extensions?.code).toBe('QUOTA_EXCEEDED');
    await gql(1, admin, SetUserQuotaDocument, { userId: limitedId, tokensPerDay: null });
    await gql(0, limited, GenerateDocument, { input: { prompt: 'x', params: { maxTokens: 2 } } });
  }, 300_000);

  it('keeps a user’s search index current on every API process, whichever process the change went through', async () => {
    const shared = { REDIS_KEY_PREFIX: `${prefix}search:` };
    const apis = [await start('api', shared), await start('api', shared)];
    const token = await newUser(apis[0]!.url);
    const search = async (api: GptqlProcess, query: string) =>
      (await postGraphQL<{ search: { edges: { node: { snippet: string } }[] } }>(api.url, { query: print(SearchDocument), variables: { query } }, token)).data!.search.edges.map((e) => e.node.snippet);
    expect(await search(apis[0]!, 'albatross')).toEqual([]); // built now, on the first process
    await postGraphQL(apis[1]!.url, { query: print(SendMessageDocument), variables: { input: { content: 'An albatross flew by.' } } }, token);
    await expect.poll(() => search(apis[0]!, 'albatross')).toEqual(['An <mark>albatross</mark> flew by.']);
  });

  it('refuses a revoked API key on every API process within a second', async () => {
    const apis = [await start('api'), await start('api')];
    const token = await newUser(apis[0]!.url);
    const created = await postGraphQL<{ createApiKey: { key: string; apiKey: { id: string } } }>(apis[0]!.url, { query: print(CreateApiKeyDocument), variables: { name: 'multi' } }, token);
    const { key, apiKey } = created.data!.createApiKey;
    const models = (api: GptqlProcess) => fetch(`${api.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    expect(await Promise.all(apis.map(models))).toEqual([200, 200]);
    await postGraphQL(apis[1]!.url, { query: print(RevokeApiKeyDocument), variables: { id: apiKey.id } }, token);
    const revokedAt = Date.now();
    expect(await Promise.all(apis.map(models))).toEqual([401, 401]);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
  });
});
