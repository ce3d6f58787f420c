import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ConversationEventsDocument,
  CreateConversationDocument,
  DeleteConversationDocument,
  MeDocument,
  RenameConversationDocument,
} from '../../src/generated/graphql.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let alice: Awaited<ReturnType<TestApp['newUser']>>;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.newUser();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await t.stop();
});

function wsClient(connectionParams: Record<string, unknown>, onClosed?: (code: number) => void): Client {
  const client = createClient({
    url: `${t.url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: false,
    on: { closed: (event) => onClosed?.((event as { code: number }).code) },
    onNonLazyError: () => {},
  });
  clients.push(client);
  return client;
}

async function createConversation(title: string) {
  return (await t.gql(CreateConversationDocument, { input: { title } }, alice.accessToken)).data!.createConversation;
}

describe('graphql-ws', () => {
  it('authenticates in connection_init and runs a query', async () => {
    const client = wsClient({ authorization: `Bearer ${alice.accessToken}` });
    const result = await new Promise((resolve, reject) => {
      client.subscribe({ query: print(MeDocument) }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(result).toMatchObject({ data: { me: { email: alice.email } } });
  });

  it('streams conversation events to a subscription', async () => {
    const conversation = await createConversation('watched');
    const client = wsClient({ accessToken: alice.accessToken });
    const events: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: print(ConversationEventsDocument), variables: { id: conversation.id } },
        {
          next: (value) => {
            events.push(value);
            if (events.length === 2) resolve();
          },
          error: reject,
          complete: () => {},
        },
      );
    });
    // Subscribing is asynchronous; keep renaming until the subscriber is registered.
    const renamer = setInterval(() => void t.gql(RenameConversationDocument, { id: conversation.id, title: 'renamed' }, alice.accessToken), 50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    clearInterval(renamer);
    await t.gql(DeleteConversationDocument, { id: conversation.id }, alice.accessToken);
    await done;
    expect(events[0]).toMatchObject({ data: { conversationEvents: { kind: 'RENAMED', conversation: { title: 'renamed' } } } });
    expect(events.at(-1)).toMatchObject({ data: { conversationEvents: { kind: expect.stringMatching(/RENAMED|DELETED/) } } });
  });

  it("refuses a subscription to another user's conversation with NOT_FOUND", async () => {
    const conversation = await createConversation('private');
    const bob = await t.newUser();
    const client = wsClient({ accessToken: bob.accessToken });
    const errors = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: print(ConversationEventsDocument), variables: { id: conversation.id } },
        { next: (value) => resolve((value as { errors?: unknown }).errors), error: resolve, complete: () => {} },
      );
    });
    expect(errors).toMatchObject([{ extensions: { code: 'NOT_FOUND' } }]);
  });

  it('closes the socket with 4403 for a bad token', async () => {
    const code = await new Promise<number>((resolve) => {
      wsClient({ authorization: 'Bearer not-a-valid-token' }, resolve);
    });
    expect(code).toBe(4403);
  });
});

describe('SSE subscriptions over HTTP', () => {
  it('delivers conversation events as text/event-stream', async () => {
    const conversation = await createConversation('sse');
    const controller = new AbortController();
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${alice.accessToken}` },
      body: JSON.stringify({ query: print(ConversationEventsDocument), variables: { id: conversation.id } }),
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    const renamer = setInterval(() => void t.gql(RenameConversationDocument, { id: conversation.id, title: 'over sse' }, alice.accessToken), 50);
    let text = '';
    try {
      while (!text.includes('over sse')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } finally {
      clearInterval(renamer);
      controller.abort();
    }
    expect(text).toMatch(/event: next\ndata: .*"kind":"RENAMED".*"title":"over sse"/);
  });
});
