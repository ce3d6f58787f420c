/**
 * Several models in one deployment: MODEL_PATH names two different folders (the shipped model
 * and a tiny random one), the worker serves both, `models` lists them, and a request picks one
 * with `params.model`, a conversation keeping the model of its last reply. Run embedded and on
 * Redis (streams per model, the directory in Redis).
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../model/index.ts';
import {
  GenerateDocument,
  GenerationEventsDocument,
  ModelsDocument,
  RegenerateDocument,
  SendMessageDocument,
  type GenerationEventFieldsFragment,
} from '../../src/generated/graphql.ts';
import { newId } from '../../src/store/ids.ts';
import type { StreamEvent } from '../../src/streams/events.ts';
import { errorCodes, startTestApp, type TestApp } from '../support/harness.ts';
import { REDIS_URL } from '../support/services.ts';
import { buildTinyModel, type TinyModel } from '../support/tiny-model.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

type Completed = Extract<GenerationEventFieldsFragment, { __typename: 'GenerationCompleted' }>;

let tiny: TinyModel;
beforeAll(() => {
  tiny = buildTinyModel(5);
});
afterAll(() => tiny?.remove());

const backends = [
  { name: 'embedded', env: () => ({}), skip: false },
  { name: 'Redis', env: () => ({ REDIS_URL, REDIS_KEY_PREFIX: `gptql-test-${crypto.randomUUID().slice(0, 8)}:` }), skip: !inject('redisAvailable') },
];

describe.each(backends)('two models in one deployment ($name)', ({ env, skip }) => {
  let t: TestApp;
  let user: Awaited<ReturnType<TestApp['newUser']>>;
  let prefix: string | undefined;

  beforeAll(async () => {
    if (skip) return;
    const extra: Record<string, string> = env();
    prefix = extra.REDIS_KEY_PREFIX;
    // A bare path (named after its folder: "default") first, so it is the default model; then name=path.
    t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000', INFERENCE_THREADS: '1', MODEL_PATH: `${DEFAULT_MODEL_DIR},tiny=${tiny.dir}`, ...extra });
    user = await t.newUser();
  });
  afterAll(async () => {
    await t?.stop();
    if (prefix) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  async function completion(generationId: string): Promise<Completed> {
    const client = wsClient(t.url, user.accessToken);
    try {
      const results = await collectSubscription(client, GenerationEventsDocument, { id: generationId, after: 0 });
      const last = results.at(-1)?.data?.generation;
      if (last?.__typename !== 'GenerationCompleted') throw new Error(JSON.stringify(results.at(-1)));
      return last;
    } finally {
      await client.dispose();
    }
  }

  async function send(input: Record<string, unknown>) {
    const response = await t.gql(SendMessageDocument, { input: { content: 'Hello there.', ...input, params: { maxTokens: 6, seed: 1, ...(input.params as object) } } as never }, user.accessToken);
    if (!response.data) throw new Error(JSON.stringify(response.errors));
    const generation = response.data.sendMessage;
    return { generation, done: await completion(generation.id) };
  }

  it.skipIf(skip)('lists both models, the default first, with what they are and who serves them', async () => {
    const models = (await t.gql(ModelsDocument, {}, user.accessToken)).data?.models;
    const workers = [t.worker!.consumerName];
    expect(models).toEqual([
      { name: 'default', architecture: expect.any(String), dtype: 'fp32', parameters: models?.[0]?.parameters ?? null, contextLength: 256, chatTemplate: expect.any(Boolean), workers },
      { name: 'tiny', architecture: expect.any(String), dtype: 'fp32', parameters: models?.[1]?.parameters ?? null, contextLength: 128, chatTemplate: expect.any(Boolean), workers },
    ]);
    // Counted or not, a parameter count is a positive whole number.
    for (const model of models ?? []) if (model.parameters !== null) expect(Number.isInteger(model.parameters) && model.parameters > 0).toBe(true);
    expect([...t.worker!.engines.keys()]).toEqual(['default', 'tiny']);
  });

  it.skipIf(skip)('answers `generate` from the model params.model names, and from the default without it', async () => {
    const engines = t.worker!.engines;
    const onTiny = vi.spyOn(engines.get('tiny')!, 'generate');
    const onDefault = vi.spyOn(engines.get('default')!, 'generate');
    try {
      const picked = await t.gql(GenerateDocument, { input: { prompt: 'Once upon a time', params: { model: 'tiny', maxTokens: 5, temperature: 0.5 } } }, user.accessToken);
      expect(picked.errors).toBeUndefined();
      expect(picked.data?.generate).toMatchObject({ model: 'tiny', cached: false });
      expect([onTiny.mock.calls.length, onDefault.mock.calls.length]).toEqual([1, 0]);

      const unpicked = await t.gql(GenerateDocument, { input: { prompt: 'Once upon a time', params: { maxTokens: 5, temperature: 0.5 } } }, user.accessToken);
      expect(unpicked.data?.generate.model).toBe('default');
      expect([onTiny.mock.calls.length, onDefault.mock.calls.length]).toEqual([1, 1]);
    } finally {
      onTiny.mockRestore();
      onDefault.mockRestore();
    }
  });

  it.skipIf(skip)('refuses a model no worker serves at once, naming the served ones', async () => {
    const response = await t.gql(GenerateDocument, { input: { prompt: 'Hi', params: { model: 'gpt-17' } } }, user.accessToken);
    expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
    expect(response.errors?.[0]?.message).toBe('Model "gpt-17" is not served; served models: default, tiny');
    expect(response.errors?.[0]?.extensions?.argument).toBe('model');
    const sent = await t.gql(SendMessageDocument, { input: { content: 'Hi', params: { model: 'gpt-17' } } }, user.accessToken);
    expect(errorCodes(sent)).toEqual(['BAD_USER_INPUT']);
    expect(sent.errors?.[0]?.message).toMatch(/served models: default, tiny$/);
    expect(sent.data).toBeNull();
  });

  it.skipIf(skip)('runs a job that names no model, as an earlier release enqueued them, on the default model', async () => {
    const generationId = newId();
    const enqueuedAt = new Date().toISOString();
    await t.infra.streams.create({ generationId, userId: user.userId, status: 'QUEUED', createdAt: enqueuedAt });
    await t.infra.queue.enqueue({ kind: 'stateless', generationId, userId: user.userId, enqueuedAt, params: { maxTokens: 3 }, input: { prompt: 'Old job' } });
    const events: StreamEvent[] = [];
    for await (const event of t.infra.streams.subscribe(generationId, 0)) events.push(event);
    expect(events.at(-1)).toMatchObject({ kind: 'completed', model: 'default' });
  });

  it.skipIf(skip)('keeps a conversation on the model of its last reply unless told otherwise', async () => {
    const first = await send({ params: { model: 'tiny' } });
    expect(first.done).toMatchObject({ model: 'tiny', message: { model: 'tiny' } });
    const conversationId = first.generation.conversation!.id;

    const second = await send({ conversationId });
    expect(second.done).toMatchObject({ model: 'tiny', message: { model: 'tiny' } });

    const switched = await send({ conversationId, params: { model: 'default' } });
    expect(switched.done.model).toBe('default');
    const after = await send({ conversationId });
    expect(after.done.model).toBe('default');

    // Regenerating a reply keeps that reply's model.
    const again = await t.gql(RegenerateDocument, { messageId: first.done.message!.id, params: { maxTokens: 4 } }, user.accessToken);
    expect((await completion(again.data!.regenerate.id)).model).toBe('tiny');

    // A new conversation starts on the default model.
    expect((await send({})).done.model).toBe('default');
  });
});
