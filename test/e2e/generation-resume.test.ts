/**
 * A client resuming a finished generation from its last event (or past it) has nothing left to
 * receive: the subscription must end at once rather than hold its listener and operation slot
 * until the generation expires. Over graphql-ws and SSE, against the embedded app with a worker.
 */
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationEventsDocument, SendMessageDocument } from '../../src/generated/graphql.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

/** Far longer than an immediate end takes, far shorter than the generation's TTL. */
const PROMPTLY_MS = 5_000;

let t: TestApp;
let accessToken: string;
let generationId: string;
/** Index of the finished generation's terminal event. */
let last: number;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000' });
  accessToken = (await t.newUser()).accessToken;
  const sent = await t.gql(SendMessageDocument, { input: { content: 'A short one.', params: { maxTokens: 6, seed: 5 } } }, accessToken);
  if (!sent.data) throw new Error(JSON.stringify(sent.errors));
  generationId = sent.data.sendMessage.id;
  const client = connect();
  const events = await collectSubscription(client, GenerationEventsDocument, { id: generationId, after: 0 });
  const terminal = events.at(-1)!.data!.generation;
  if (terminal.__typename !== 'GenerationCompleted') throw new Error(`generation ended with ${terminal.__typename}`);
  last = terminal.index;
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await t?.stop();
});

function connect(): Client {
  const client = wsClient(t.url, accessToken);
  clients.push(client);
  return client;
}

function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still open after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('resuming a finished generation at or after its last event', () => {
  it('completes the graphql-ws subscription at once, with no event', async () => {
    for (const after of [last, last + 3]) {
      const started = performance.now();
      const results = await within(PROMPTLY_MS, collectSubscription(connect(), GenerationEventsDocument, { id: generationId, after }), `subscription after ${after}`);
      expect(results).toEqual([]);
      expect(performance.now() - started).toBeLessThan(PROMPTLY_MS);
    }
  });

  it('ends the SSE response at once, with no event', async () => {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      signal: AbortSignal.timeout(PROMPTLY_MS),
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ query: print(GenerationEventsDocument), variables: { id: generationId, after: last } }),
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const body = await response.text();
    expect(body).not.toContain('event: next');
    expect(body).toContain('event: complete');
  });
});
