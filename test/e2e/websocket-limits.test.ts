/**
 * graphql-ws limits: operations per connection, connections per user, message size, the
 * connection_init deadline, and the socket closed when its token expires.
 */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConversationEventsDocument, CreateConversationDocument } from '../../src/generated/graphql.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let alice: Awaited<ReturnType<TestApp['newUser']>>;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestApp({ WS_MAX_CONNECTIONS_PER_USER: '2', WS_MAX_MESSAGE_BYTES: '4096', WS_INIT_TIMEOUT_SECONDS: '1' });
  alice = await t.newUser();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await t.stop();
});

const wsUrl = (app: TestApp) => `${app.url.replace('http', 'ws')}/graphql`;

function connect(app: TestApp, accessToken: string) {
  let resolveClosed: (code: number) => void;
  const closed = new Promise<number>((resolve) => (resolveClosed = resolve));
  let resolveConnected: () => void;
  const connected = new Promise<void>((resolve) => (resolveConnected = resolve));
  const client = createClient({
    url: wsUrl(app),
    webSocketImpl: WebSocket,
    connectionParams: { accessToken },
    retryAttempts: 0,
    lazy: false,
    on: { closed: (event) => resolveClosed((event as { code: number }).code), connected: () => resolveConnected() },
    onNonLazyError: () => {},
  });
  clients.push(client);
  return { client, closed, connected };
}

/** Opens a subscription; resolves with its first error, if it gets one. */
function subscribe(client: Client, id: string) {
  return new Promise<unknown>((resolve) => {
    client.subscribe(
      { query: print(ConversationEventsDocument), variables: { id } },
      { next: (value) => resolve((value as { errors?: unknown }).errors), error: resolve, complete: () => resolve(undefined) },
    );
  });
}

describe('WebSocket limits', () => {
  it('refuses the 11th concurrent subscription on one connection, and no other', async () => {
    const conversation = (await t.gql(CreateConversationDocument, { input: { title: 'busy' } }, alice.accessToken)).data!.createConversation;
    const { client, connected } = connect(t, alice.accessToken);
    await connected;
    const outcomes = Array.from({ length: 10 }, () => subscribe(client, conversation.id));
    const eleventh = await subscribe(client, conversation.id);
    expect(eleventh).toMatchObject([{ message: expect.stringMatching(/At most 10 operations/), extensions: { code: 'BAD_USER_INPUT', reason: 'TOO_MANY_OPERATIONS' } }]);
    // The ten are still live: none of them ended.
    const settled = await Promise.race([Promise.race(outcomes).then(() => 'one ended'), new Promise((resolve) => setTimeout(() => resolve('all live'), 200))]);
    expect(settled).toBe('all live');
  });

  it('closes a connection over the per-user cap with 1013', async () => {
    const bob = await t.newUser();
    const first = connect(t, bob.accessToken);
    const second = connect(t, bob.accessToken);
    await Promise.all([first.connected, second.connected]);
    expect(await connect(t, bob.accessToken).closed).toBe(1013);
    // A slot frees when a connection closes.
    await first.client.dispose();
    await first.closed;
    await connect(t, bob.accessToken).connected;
  });

  it('closes a socket that sends a message over the size limit with 1009', async () => {
    const socket = new WebSocket(wsUrl(t), 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { accessToken: alice.accessToken, padding: 'x'.repeat(10_000) } }));
    expect(await closed).toBe(1009);
  });

  it('closes a socket that sends no connection_init in time with 4408', async () => {
    const socket = new WebSocket(wsUrl(t), 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    expect(await closed).toBe(4408);
  });
});

describe('token expiry', () => {
  let short: TestApp;
  beforeAll(async () => {
    short = await startTestApp({ ACCESS_TOKEN_TTL_SECONDS: '2' });
  });
  afterAll(() => short.stop());

  it('closes a WebSocket kept open past its token expiry with 4401', async () => {
    const user = await short.newUser();
    const conversation = (await short.gql(CreateConversationDocument, { input: { title: 'x' } }, user.accessToken)).data!.createConversation;
    const { client, closed, connected } = connect(short, user.accessToken);
    await connected;
    void subscribe(client, conversation.id);
    const started = Date.now();
    expect(await closed).toBe(4401);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
