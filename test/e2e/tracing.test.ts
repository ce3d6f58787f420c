/**
 * Tracing across processes: an API and a worker process export spans over OTLP/HTTP to a real
 * receiver in this test (an HTTP server reading the protocol's JSON encoding). One client trace
 * (a `traceparent` header on a sendMessage request and on the SSE subscription following its
 * generation) comes back as one tree: the API's request, operation, DynamoDB calls and queue
 * hand-off, then the worker's job with its engine phases, parented as they happened.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateConversationDocument, GenerationEventsDocument, SendMessageDocument } from '../../src/generated/graphql.ts';
import { routeOf } from '../../src/server/tracing.ts';
import { rawIdOf, signUpUser } from '../support/harness.ts';
import { startGptql, startSharedDynamo, type GptqlProcess } from '../support/processes.ts';
import { deleteKeys, redisForFile } from '../support/redis-keys.ts';
import { REDIS_URL } from '../support/services.ts';

const redis = redisForFile();

interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

interface OtlpJson {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: { key: string; value: Record<string, unknown> }[] }[] }[];
  }[];
}

const received: ReceivedSpan[] = [];
let receiver: http.Server;
let receiverUrl: string;
const prefix = `gptql-test-trace-${crypto.randomUUID().slice(0, 8)}:`;
let dataDir: string;
let dynamo: Awaited<ReturnType<typeof startSharedDynamo>>;
let api: GptqlProcess;
let worker: GptqlProcess;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.url !== '/v1/traces' || !req.headers['content-type']?.includes('json')) {
        res.writeHead(415).end();
        return;
      }
      for (const resourceSpans of (JSON.parse(body) as OtlpJson).resourceSpans) {
        const service = resourceSpans.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const { spans } of resourceSpans.scopeSpans) {
          for (const span of spans) {
            const attributes = Object.fromEntries((span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]));
            received.push({ service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', name: span.name, kind: span.kind, attributes });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-trace-'));
  dynamo = await startSharedDynamo();
  const env = { DATA_DIR: dataDir, DYNAMODB_ENDPOINT: dynamo.endpoint, REDIS_URL, REDIS_KEY_PREFIX: prefix, INFERENCE_THREADS: '1', OTEL_EXPORTER_OTLP_ENDPOINT: receiverUrl, OTEL_BSP_SCHEDULE_DELAY: '100' };
  [api, worker] = await Promise.all([startGptql('api', env), startGptql('worker', env)]);
}, 90_000);

afterAll(async () => {
  await Promise.all([api?.stop('SIGKILL'), worker?.stop('SIGKILL')]);
  await dynamo?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  await deleteKeys(redis, prefix);
  await fs.rm(dataDir, { recursive: true, force: true });
});

const hex = (bytes: number) => crypto.randomBytes(bytes).toString('hex');

async function post(body: unknown, token: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${api.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify(body) });
  return response;
}

describe('tracing (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  it('gives a sendMessage and the generation it starts one trace across the API and worker processes', async () => {
    const user = await signUpUser(api.url, dataDir);
    const created = await (await post({ query: print(CreateConversationDocument), variables: { input: { title: 'Traced' } } }, user.accessToken)).json();
    const conversationId = (created as { data: { createConversation: { id: string } } }).data.createConversation.id;

    // The client's own span: both requests continue it.
    const traceId = hex(16);
    const clientSpan = hex(8);
    const traceparent = `00-${traceId}-${clientSpan}-01`;
    const sent = (await (await post({ query: print(SendMessageDocument), variables: { input: { conversationId, content: 'Hello there', params: { maxTokens: 6 } } } }, user.accessToken, { traceparent })).json()) as {
      data: { sendMessage: { id: string } };
    };
    const stream = await post({ query: print(GenerationEventsDocument), variables: { id: sent.data.sendMessage.id, after: 0 } }, user.accessToken, { traceparent, accept: 'text/event-stream' });
    const events = await stream.text();
    expect(events).toContain('GenerationCompleted');

    const trace = () => received.filter((span) => span.traceId === traceId);
    const named = (name: string) => trace().find((span) => span.name === name);
    // Every span hangs from another span of the trace, or from the client's (spans arrive as they end: parents last).
    const orphans = () => {
      const ids = new Set(trace().map((span) => span.spanId));
      return trace().filter((span) => span.parentSpanId !== clientSpan && !ids.has(span.parentSpanId)).map((span) => `${span.service} ${span.name}`);
    };
    await expect.poll(() => ['generation.job', 'engine.decode', 'mutation SendMessage', 'subscription GenerationEvents'].every((name) => named(name)) && orphans().length === 0, { timeout: 15_000 }).toBe(true);
    expect(orphans()).toEqual([]);

    const spans = trace();
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    const parentOf = (span: ReceivedSpan) => byId.get(span.parentSpanId)?.name ?? (span.parentSpanId === clientSpan ? 'client' : '?');

    const mutation = named('mutation SendMessage')!;
    expect(mutation.service).toBe('gptql-api');
    expect(parentOf(mutation)).toBe('POST /graphql');
    expect(parentOf(byId.get(mutation.parentSpanId)!)).toBe('client');
    const enqueue = named('queue.enqueue')!;
    expect(parentOf(enqueue)).toBe('mutation SendMessage');
    // The API's DynamoDB calls for the message sit under its operation.
    expect(spans.some((span) => span.service === 'gptql-api' && span.name.startsWith('DynamoDB ') && span.parentSpanId === mutation.spanId)).toBe(true);

    // Redis: the API's commands (the generation's stream record, the job) under the mutation.
    expect(spans.some((span) => span.service === 'gptql-api' && span.name.startsWith('redis ') && span.attributes['db.system.name'] === 'redis')).toBe(true);

    const job = named('generation.job')!;
    expect(job.service).toBe('gptql-worker');
    expect(job.parentSpanId).toBe(enqueue.spanId);
    expect(job.attributes).toMatchObject({ 'gptql.generation.id': rawIdOf(sent.data.sendMessage.id), 'gen_ai.usage.output_tokens': expect.anything() });
    for (const phase of ['engine.queue', 'engine.prefill', 'engine.decode']) expect(parentOf(named(phase)!), phase).toBe('generation.job');
    // The reply stored by the worker: its DynamoDB calls under the job; the tokens streamed: Redis commands under it.
    expect(spans.some((span) => span.service === 'gptql-worker' && span.name.startsWith('DynamoDB ') && span.parentSpanId === job.spanId)).toBe(true);
    expect(spans.some((span) => span.service === 'gptql-worker' && span.name.startsWith('redis ') && span.parentSpanId === job.spanId)).toBe(true);

    // The subscription's request continues the same client trace.
    expect(parentOf(byId.get(named('subscription GenerationEvents')!.parentSpanId)!)).toBe('client');
  });

  it('names routes without the ids in their paths', () => {
    expect(['/graphql', '/v1/chat/completions', '/files/01J0ABC', '/share/xyz', '/conversations/01J/export', '/assets/app-3f2a.js'].map(routeOf)).toEqual([
      '/graphql',
      '/v1/chat/completions',
      '/files/{id}',
      '/share/{id}',
      '/conversations/{id}/export',
      '/assets/{file}',
    ]);
  });
});
