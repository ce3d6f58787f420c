/**
 * A worker serving a model through an upstream OpenAI-compatible server: here a second gptql
 * process serving `/v1` (a real HTTP server speaking the protocol, with its own model). The
 * front gptql streams the upstream's answer as its own; a slow first token is retried; a
 * cancellation reaches the upstream's worker; the upstream dying mid-stream ends the generation
 * with UNAVAILABLE. A small HTTP proxy in between holds back first chunks where a test needs a
 * slow upstream.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../model/default-dir.ts';
import {
  CancelGenerationDocument,
  CreateConversationDocument,
  CreateApiKeyDocument,
  GenerateStreamDocument,
  GenerationEventsDocument,
  ModelsDocument,
  SendMessageDocument,
  type GenerationEventFieldsFragment,
} from '../../src/generated/graphql.ts';
import { postGraphQL, signUpUser, startTestApp, type TestApp } from '../support/harness.ts';
import { startGptql, type GptqlProcess } from '../support/processes.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';
import { writeSlowModel } from '../support/tiny-model.ts';

type Event = GenerationEventFieldsFragment;

let upstreamDir: string;
let upstream: GptqlProcess;
let apiKey: string;
/** Straight to the upstream; through the proxy, with a short first-token timeout. */
let direct: TestApp;
let proxied: TestApp;
let proxyServer: http.Server;
const proxy = { holdFirstChunkMs: 0, held: 0, requests: [] as Promise<boolean>[] };

/**
 * The upstream serves the shipped model (real text, for comparing answers) and a slow one:
 * random weights of the `small` preset, about 120 tokens/s here, so that a 400-token reply
 * streams for seconds, long enough to cancel it or kill the upstream midway.
 */
const chat = (content: string, params: Record<string, unknown>) => ({ content, params: { model: 'remote', ...params } });
const slowChat = (content: string, params: Record<string, unknown>) => ({ content, params: { model: 'remote-slow', ...params } });

beforeAll(async () => {
  upstreamDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-upstream-'));
  const slowModel = path.join(upstreamDir, 'slow');
  writeSlowModel(slowModel);
  upstream = await startGptql('all', { DATA_DIR: upstreamDir, MODEL_PATH: `default=${DEFAULT_MODEL_DIR},slow=${slowModel}`, INFERENCE_THREADS: '1', RATE_LIMIT_PER_MINUTE: '1000' });
  const user = await signUpUser(upstream.url, upstreamDir);
  apiKey = (await postGraphQL<{ createApiKey: { key: string } }>(upstream.url, { query: print(CreateApiKeyDocument), variables: { name: 'front' } }, user.accessToken)).data!.createApiKey.key;

  proxyServer = http.createServer((req, res) => void forward(req, res));
  await new Promise<void>((resolve) => proxyServer.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxyServer.address() as AddressInfo).port}`;

  const front = { ROLE: 'all', UPSTREAM_OPENAI_API_KEY: apiKey, UPSTREAM_MODELS: 'remote=default,remote-slow=slow', RATE_LIMIT_PER_MINUTE: '1000' };
  direct = await startTestApp({ ...front, UPSTREAM_OPENAI_URL: `${upstream.url}/v1` });
  proxied = await startTestApp({ ...front, UPSTREAM_OPENAI_URL: `${proxyUrl}/v1`, UPSTREAM_TIMEOUT_SECONDS: '0.5', UPSTREAM_RETRIES: '1' });
}, 60_000);

afterAll(async () => {
  await direct?.stop();
  await proxied?.stop();
  await new Promise((resolve) => proxyServer?.close(resolve));
  await upstream?.stop('SIGKILL');
  await fs.rm(upstreamDir, { recursive: true, force: true });
});

/** Forwards to the upstream, holding back the first chunk of the next `proxy.held` responses; a client that hangs up is passed on. */
async function forward(req: http.IncomingMessage, res: http.ServerResponse) {
  const controller = new AbortController();
  proxy.requests.push(new Promise((resolve) => res.on('close', () => (res.writableFinished ? resolve(false) : (controller.abort(), resolve(true))))));
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const hold = proxy.held-- > 0 ? proxy.holdFirstChunkMs : 0;
  try {
    const answer = await fetch(`${upstream.url}${req.url}`, { method: req.method, headers: { authorization: req.headers.authorization!, 'content-type': 'application/json' }, body: req.method === 'POST' ? Buffer.concat(chunks) : undefined, signal: controller.signal });
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    let first = true;
    for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>) {
      if (first && hold) await new Promise((resolve) => setTimeout(resolve, hold));
      first = false;
      if (res.destroyed) return;
      res.write(chunk);
    }
    res.end();
  } catch {
    res.destroy();
  }
}

/**
 * Sends a message on `app` and follows its generation; `onFirstToken` is called as the first
 * token arrives. The conversation has a title, so that no title job goes upstream too.
 */
async function converse(app: TestApp, input: ReturnType<typeof chat>, onFirstToken?: (generationId: string, accessToken: string) => void) {
  const user = await app.newUser();
  const conversationId = (await app.gql(CreateConversationDocument, { input: { title: 'Upstream' } }, user.accessToken)).data!.createConversation.id;
  const generation = (await app.gql(SendMessageDocument, { input: { ...input, conversationId } }, user.accessToken)).data!.sendMessage;
  const client = wsClient(app.url, user.accessToken);
  const events: Event[] = [];
  await collectSubscription(client, GenerationEventsDocument, { id: generation.id, after: 0 }, (result) => {
    const event = result.data!.generation;
    events.push(event);
    if (event.__typename === 'GenerationToken' && events.length === 1) onFirstToken?.(generation.id, user.accessToken);
  });
  await client.dispose();
  return { user, generation, events, last: events.at(-1)! };
}

const metric = async (url: string, line: RegExp) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(line.exec(text)?.[1] ?? 0);
};

describe('a model served by an upstream OpenAI-compatible server', () => {
  it('streams the upstream’s answer as its own: the same text and log-probabilities, its usage', async () => {
    const user = await direct.newUser();
    const models = (await direct.gql(ModelsDocument, {}, user.accessToken)).data!.models;
    // The context window comes from the upstream's /v1/models (max_model_len).
    expect(models).toEqual([
      expect.objectContaining({ name: 'remote', architecture: 'upstream:default', dtype: 'upstream', contextLength: 256, chatTemplate: true, parameters: null }),
      expect.objectContaining({ name: 'remote-slow', architecture: 'upstream:slow', contextLength: 512 }),
    ]);

    const params = { temperature: 0, maxTokens: 24, minTokens: 24, logprobs: 2 };
    const client = wsClient(direct.url, user.accessToken);
    const results = await collectSubscription(client, GenerateStreamDocument, { input: { messages: [{ role: 'USER', content: 'Hello there' }], params: { model: 'remote', ...params } } });
    await client.dispose();
    const events = results.map((r) => r.data!.generateStream);
    const tokens = events.filter((e) => e.__typename === 'GenerationToken');
    const completed = events.at(-1)!;
    if (completed.__typename !== 'GenerationCompleted') throw new Error(`ended with ${JSON.stringify(completed)}`);

    // The same request asked of the upstream directly, with the official SDK.
    const sdk = new OpenAI({ apiKey, baseURL: `${upstream.url}/v1`, maxRetries: 0 });
    const answer = await sdk.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Hello there' }], temperature: 0, max_tokens: 24, min_tokens: 24, logprobs: true, top_logprobs: 2 } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    expect(completed.text).toBe(answer.choices[0]!.message.content);
    expect(completed.usage).toEqual({ promptTokens: answer.usage!.prompt_tokens, completionTokens: 24, totalTokens: answer.usage!.prompt_tokens + 24 });
    expect(completed.model).toBe('remote');
    // The shipped model's pieces are one token each: token for token, the upstream's log-probabilities.
    const content = answer.choices[0]!.logprobs!.content!;
    expect(tokens.map((t) => t.__typename === 'GenerationToken' && t.logprob)).toEqual(content.map((e) => expect.closeTo(e.logprob, 5)));
    expect(tokens.map((t) => t.__typename === 'GenerationToken' && t.topLogprobs!.map((alt) => alt.token))).toEqual(content.map((e) => e.top_logprobs.map((alt) => alt.token)));
  });

  it('retries an upstream whose first token is late, then fails with UNAVAILABLE', async () => {
    const retries = () => metric(proxied.url, /upstream_retries_total\{model="remote",reason="timeout"\} (\d+)/);
    proxy.holdFirstChunkMs = 1500;
    proxy.held = 1;
    proxy.requests = [];
    const retried = await converse(proxied, chat('One', { maxTokens: 4, minTokens: 4 }));
    expect(retried.last).toMatchObject({ __typename: 'GenerationCompleted', finishReason: 'LENGTH' });
    expect(await retries()).toBe(1);
    // The late attempt was hung up on; the second was answered.
    expect(await Promise.all(proxy.requests)).toEqual([true, false]);

    proxy.held = 2;
    const failed = await converse(proxied, chat('Two', { maxTokens: 4 }));
    expect(failed.last).toMatchObject({ __typename: 'GenerationFailed', code: 'UNAVAILABLE', error: expect.stringContaining('no token within 0.5 s') });
    expect(await retries()).toBe(2);
  });

  it('passes a cancellation on to the upstream, whose worker stops', async () => {
    const cancelledUpstream = () => metric(upstream.url, /generations_total\{model="slow",outcome="cancelled"\} (\d+)/);
    const before = await cancelledUpstream();
    let cancel: Promise<unknown> | undefined;
    const { last } = await converse(direct, slowChat('Go on', { maxTokens: 400, minTokens: 400 }), (id, accessToken) => {
      cancel = direct.gql(CancelGenerationDocument, { id }, accessToken);
    });
    await cancel;
    expect(last).toMatchObject({ __typename: 'GenerationCompleted', finishReason: 'CANCELLED' });
    if (last.__typename === 'GenerationCompleted') expect(last.usage.completionTokens).toBeLessThan(400);
    await expect.poll(cancelledUpstream, { timeout: 10_000 }).toBe(before + 1);
  });

  it('ends a generation whose upstream dies mid-stream with UNAVAILABLE, and stays up', async () => {
    const { events, last, user } = await converse(direct, slowChat('Keep talking', { maxTokens: 400, minTokens: 400 }), () => void upstream.stop('SIGKILL'));
    expect(events[0]!.__typename).toBe('GenerationToken');
    expect(last).toMatchObject({ __typename: 'GenerationFailed', code: 'UNAVAILABLE', error: expect.stringMatching(/model server failed.*after \d+ tokens/) });
    // The front process goes on answering.
    expect((await direct.gql(ModelsDocument, {}, user.accessToken)).data!.models.map((m) => m.name)).toEqual(['remote', 'remote-slow']);
  });
});
