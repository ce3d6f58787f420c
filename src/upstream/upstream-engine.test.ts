/**
 * The upstream engine against a real local HTTP server speaking the OpenAI protocol: recorded
 * reference streams replayed through its parser, and the server misbehaving (errors before and
 * during the stream, no first token, a client that cancels).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EngineEvent, TokenEvent } from '../inference/protocol.ts';
import { UpstreamEngine, type UpstreamOptions } from './upstream-engine.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../test/fixtures/openai');
const replay = (file: string) => fs.readFileSync(path.join(FIXTURES, file), 'utf8');

interface Seen {
  path: string;
  body: Record<string, unknown>;
  /** Resolves when the client closed the connection before the response ended. */
  abandoned: Promise<boolean>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Record<string, unknown>, attempt: number) => unknown;

let server: http.Server;
let baseURL: string;
let handler: Handler;
let seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      const abandoned = new Promise<boolean>((resolve) => res.on('close', () => resolve(!res.writableFinished)));
      seen.push({ path: req.url!, body, abandoned });
      void handler(req, res, body, seen.filter((s) => s.path === req.url).length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen = [];
});

const sse = (res: http.ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });
const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
const chatChunk = (content: string) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] })}\n\n`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const engine = (options: Partial<UpstreamOptions> = {}) =>
  new UpstreamEngine({ baseURL, name: 'remote', upstreamModel: 'org/model-1B', timeoutMs: 5000, retries: 0, ...options }, 2048);

async function events(engine: UpstreamEngine, request: Parameters<UpstreamEngine['generate']>[0]) {
  const all: EngineEvent[] = [];
  for await (const event of engine.generate(request)) all.push(event);
  return { tokens: all.filter((e): e is TokenEvent => e.type === 'token'), last: all.at(-1)! };
}

describe('UpstreamEngine', () => {
  it('replays the OpenAI reference chat stream: tokens, log-probabilities, finish and usage', async () => {
    handler = (_req, res) => void (sse(res), res.end(replay('chat-stream.sse')));
    const { tokens, last } = await events(engine(), { input: { messages: [{ role: 'user', content: 'Hello!' }] }, params: { temperature: 0, logprobs: 2 } });
    expect(tokens.map((t) => t.delta).join('')).toBe('Hello! How can I assist you today?');
    expect(tokens.map((t) => t.index)).toEqual(tokens.map((_, i) => i));
    expect(tokens[0]!.logprobs).toEqual([{ token: 'Hello', logprob: -0.31725305, top: [{ token: 'Hello', logprob: -0.31725305 }, { token: 'Hi', logprob: -1.3190403 }] }]);
    expect(last).toMatchObject({ type: 'done', finishReason: 'eos', usage: { promptTokens: 9, completionTokens: 9 } });
    // What the server was asked: the upstream's model name, streamed with usage, logprobs as the reference spells them.
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe('/v1/chat/completions');
    expect(seen[0]!.body).toEqual({
      model: 'org/model-1B',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      messages: [{ role: 'user', content: 'Hello!' }],
      logprobs: true,
      top_logprobs: 2,
    });
  });

  it('replays a legacy completions stream, whose alternatives come as an object', async () => {
    handler = (_req, res) => void (sse(res), res.end(replay('completion-stream.sse')));
    const { tokens, last } = await events(engine(), { input: { prompt: 'Say this is a test' }, params: { maxTokens: 5, topK: 40, minTokens: 2, logprobs: 1 } });
    expect(tokens.map((t) => t.delta).join('')).toBe('\n\nThis is a test');
    expect(tokens[1]!.logprobs).toEqual([{ token: 'This', logprob: -0.21, top: [{ token: 'This', logprob: -0.21 }, { token: 'Here', logprob: -1.9 }] }]);
    // No usage chunk: the chunks are counted, the prompt is unknown.
    expect(last).toMatchObject({ type: 'done', finishReason: 'length', usage: { promptTokens: 0, completionTokens: 5 } });
    expect(seen[0]!.path).toBe('/v1/completions');
    expect(seen[0]!.body).toMatchObject({ prompt: 'Say this is a test', max_tokens: 5, top_k: 40, min_tokens: 2, logprobs: 1 });
  });

  it('goes on from a resumed reply’s text', async () => {
    handler = (_req, res) => void (sse(res), res.end(replay('chat-stream.sse')));
    await events(engine(), { input: { messages: [{ role: 'user', content: 'Hi' }], continuation: 'Hello! How' }, params: {} });
    expect(seen[0]!.body).toMatchObject({
      messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello! How' }],
      continue_final_message: true,
      add_generation_prompt: false,
    });
  });

  it('retries a server error before the first token, honouring Retry-After', async () => {
    handler = (_req, res, _body, attempt) => (attempt === 1 ? json(res, 503, { error: { message: 'loading' } }, { 'retry-after': '1' }) : void (sse(res), res.end(replay('chat-stream.sse'))));
    const started = performance.now();
    const { last } = await events(engine({ retries: 2 }), { input: { prompt: 'x' } });
    expect(last.type).toBe('done');
    expect(seen).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('does not retry a request the server calls bad: BAD_USER_INPUT with its message', async () => {
    handler = (_req, res) => json(res, 400, { error: { message: 'This model’s maximum context length is 2048 tokens', type: 'invalid_request_error', param: 'messages', code: null } });
    const { last } = await events(engine({ retries: 2 }), { input: { prompt: 'x' } });
    expect(last).toMatchObject({ type: 'error', code: 'BAD_USER_INPUT', message: expect.stringContaining('maximum context length') });
    expect(seen).toHaveLength(1);
  });

  it('gives up after its retries: UNAVAILABLE', async () => {
    handler = (_req, res) => json(res, 502, { error: { message: 'bad gateway' } });
    const { last } = await events(engine({ retries: 1 }), { input: { prompt: 'x' } });
    expect(last).toMatchObject({ type: 'error', code: 'UNAVAILABLE', message: expect.stringContaining('502') });
    expect(seen).toHaveLength(2);
  });

  it('ends with UNAVAILABLE, without retrying, when the stream fails after tokens', async () => {
    handler = (_req, res) => {
      sse(res);
      res.end(`${chatChunk('One')}${chatChunk(' two')}data: ${JSON.stringify({ error: { message: 'engine died', type: 'server_error' } })}\n\n`);
    };
    const { tokens, last } = await events(engine({ retries: 2 }), { input: { prompt: 'x' } });
    expect(tokens.map((t) => t.delta)).toEqual(['One', ' two']);
    expect(last).toMatchObject({ type: 'error', code: 'UNAVAILABLE', message: expect.stringContaining('after 2 tokens'), usage: { completionTokens: 2 } });
    expect(seen).toHaveLength(1);
  });

  it('treats a stream cut short as a failure', async () => {
    handler = (_req, res) => void (sse(res), res.end(chatChunk('Half')));
    const { last } = await events(engine(), { input: { prompt: 'x' } });
    expect(last).toMatchObject({ type: 'error', code: 'UNAVAILABLE', message: expect.stringContaining('without finishing') });
  });

  it('abandons an attempt whose first token is late, and tries again', async () => {
    handler = async (_req, res) => {
      sse(res);
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
      await sleep(1500);
      if (!res.destroyed) res.end(replay('chat-stream.sse'));
    };
    const { last } = await events(engine({ timeoutMs: 200, retries: 1 }), { input: { prompt: 'x' } });
    expect(last).toMatchObject({ type: 'error', code: 'UNAVAILABLE', message: expect.stringContaining('no token within 0.2 s') });
    expect(seen).toHaveLength(2);
    // Each late attempt was hung up on, so the server stops working on it.
    expect(await Promise.all(seen.map((s) => s.abandoned))).toEqual([true, true]);
  });

  it('hangs up on the server when the generation is cancelled', async () => {
    handler = async (_req, res) => {
      sse(res);
      for (let i = 0; i < 100 && !res.destroyed; i++) {
        res.write(chatChunk(` ${i}`));
        await sleep(20);
      }
      res.end();
    };
    const controller = new AbortController();
    const all: EngineEvent[] = [];
    for await (const event of engine().generate({ input: { prompt: 'x' }, signal: controller.signal })) {
      all.push(event);
      if (all.length === 3) controller.abort();
    }
    expect(all.at(-1)).toMatchObject({ type: 'done', finishReason: 'cancelled', usage: { completionTokens: 3 } });
    expect(await seen[0]!.abandoned).toBe(true);
  });

  describe('start', () => {
    it('reads the context window from the server’s model list (vLLM’s max_model_len)', async () => {
      handler = (_req, res) => json(res, 200, { object: 'list', data: [{ id: 'org/model-1B', object: 'model', created: 0, owned_by: 'vllm', max_model_len: 4096 }] });
      const started = await UpstreamEngine.start({ baseURL, name: 'remote', upstreamModel: 'org/model-1B', timeoutMs: 1000, retries: 0 });
      expect(started.model).toEqual({ name: 'remote', architecture: 'upstream:org/model-1B', dtype: 'upstream', parameters: null, contextLength: 4096, chatTemplate: true });
    });

    it('refuses a model the server does not serve, naming what it does', async () => {
      handler = (_req, res) => json(res, 200, { object: 'list', data: [{ id: 'other', object: 'model', created: 0, owned_by: 'x' }] });
      await expect(UpstreamEngine.start({ baseURL, name: 'remote', upstreamModel: 'org/model-1B', timeoutMs: 1000, retries: 0 })).rejects.toThrow(/does not serve "org\/model-1B".*other/);
    });

    it('starts while the server is not up yet', async () => {
      const started = await UpstreamEngine.start({ baseURL: 'http://127.0.0.1:9/v1', name: 'remote', upstreamModel: 'm', timeoutMs: 1000, retries: 0 });
      expect(started.model.contextLength).toBe(0);
    });
  });
});
