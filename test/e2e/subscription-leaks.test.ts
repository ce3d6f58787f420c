/**
 * 1,000 `generation` subscriptions opened and closed leave nothing behind (issue 10): no
 * channel subscribed in Redis, no subscription counted by the stream store, no WebSocket, no
 * timer, no listener on the HTTP server. They end in the three ways they end in production: the
 * client completes the operation, the client's socket drops without a close frame, and the
 * generation reaches its terminal event. The app runs in-process on the real Redis; the clients
 * speak graphql-ws on plain `ws` sockets so that one can be cut off abruptly.
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { completedEvent } from '../support/stream-events.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { REDIS_URL } from '../support/services.ts';

const prefix = `gptql-test-leaks-${crypto.randomUUID().slice(0, 8)}:`;
const CONNECTIONS = 100;
const OPERATIONS = 10;
const SUBSCRIPTION = 'subscription ($id: ID!) { generation(id: $id) { __typename ... on GenerationToken { index } } }';

let t: TestApp;
let redis: Redis;

beforeAll(async () => {
  t = await startTestApp({ REDIS_URL, REDIS_KEY_PREFIX: prefix, WS_MAX_CONNECTIONS_PER_USER: String(CONNECTIONS), WS_MAX_OPERATIONS: String(OPERATIONS) });
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await t?.stop();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

/** One graphql-ws connection; each operation's promises settle on its first event and on its end. */
async function connect(accessToken: string) {
  const socket = new WebSocket(`${t.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const waiters = new Map<string, { first: () => void; end: () => void }>();
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { accessToken } })));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: string; payload?: unknown };
      if (message.type === 'connection_ack') resolve();
      else if (message.type === 'next') waiters.get(message.id!)?.first();
      else if (message.type === 'complete') waiters.get(message.id!)?.end();
      else if (message.type === 'error') reject(new Error(JSON.stringify(message.payload)));
    });
  });
  return {
    subscribe(generationId: string) {
      const id = String(waiters.size + 1);
      let first!: () => void;
      let end!: () => void;
      const firstEvent = new Promise<void>((resolve) => (first = resolve));
      const ended = new Promise<void>((resolve) => (end = resolve));
      waiters.set(id, { first, end });
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { id: generationId } } }));
      return { firstEvent, ended, complete: () => socket.send(JSON.stringify({ id, type: 'complete' })) };
    },
    socket,
    closed,
  };
}

/** Channels of generations the app listens to in Redis; the workers' cancel channel is long-lived. */
async function generationChannels(): Promise<string[]> {
  const channels = (await redis.pubsub('CHANNELS', `${prefix}gen:*`)) as string[];
  return channels.filter((channel) => channel !== `${prefix}gen:cancel`);
}

async function gauges(): Promise<{ subscriptions: number; webSockets: number }> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  return { subscriptions: read('api_subscriptions_active'), webSockets: read('api_websocket_connections') };
}

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
const serverListeners = () => Object.fromEntries(t.app.server.eventNames().map((name) => [String(name), t.app.server.listenerCount(name)]));

// Vitest runs the file's hooks only when a test in it runs: skipped, this suite starts nothing.
describe.skipIf(!inject('redisAvailable'))('1,000 generation subscriptions opened and closed', () => {
  it('leave no Redis subscription, stream-store subscription, socket, timer or listener behind', async () => {
    const { streams } = t.app.services;
    const user = await t.newUser();
    const baseline = { timers: timers(), serverListeners: serverListeners() };
    expect(await gauges()).toEqual({ subscriptions: 0, webSockets: 0 });

    const generations = Array.from({ length: CONNECTIONS * OPERATIONS }, () => ulid());
    const createdAt = new Date().toISOString();
    await Promise.all(generations.map((generationId) => streams.create({ generationId, userId: user.userId, status: 'RUNNING', createdAt })));
    // The test writes the events, as the worker holding each generation's lease would.
    const fences = new Map(await Promise.all(generations.map(async (id) => [id, await streams.claim(id, 'test', 600_000)] as const)));
    const connections = await Promise.all(Array.from({ length: CONNECTIONS }, () => connect(user.accessToken)));
    const operations = connections.map((connection, c) =>
      Array.from({ length: OPERATIONS }, (_, o) => connection.subscribe(generations[c * OPERATIONS + o]!)),
    );

    // Really subscribed: each generation's channel is listened to, and a live event reaches every operation.
    await expect.poll(generationChannels, { timeout: 10_000 }).toHaveLength(generations.length);
    expect(await gauges()).toEqual({ subscriptions: generations.length, webSockets: CONNECTIONS });
    await Promise.all(generations.map((id) => streams.append(id, fences.get(id)!, { kind: 'token', index: 1, delta: 'a' })));
    await Promise.all(operations.flat().map((operation) => operation.firstEvent));

    // A third each: the client completes, the socket drops, the generation ends.
    const byClient = connections.slice(0, 34);
    const dropped = connections.slice(34, 67);
    const byGeneration = connections.slice(67);
    operations.slice(0, 34).flat().forEach((operation) => operation.complete());
    dropped.forEach((connection) => connection.socket.terminate());
    await Promise.all(generations.slice(67 * OPERATIONS).map((id) => streams.append(id, fences.get(id)!, completedEvent(2))));
    await Promise.all(operations.slice(67).flat().map((operation) => operation.ended));
    // Operations ended on a connection that stays open must be gone too, not only closed sockets.
    await expect.poll(async () => (await gauges()).subscriptions, { timeout: 10_000 }).toBe(0);
    expect(await generationChannels()).toEqual([]);
    expect((await gauges()).webSockets).toBe(byClient.length + byGeneration.length);

    [...byClient, ...byGeneration].forEach((connection) => connection.socket.close());
    await Promise.all(connections.map((connection) => connection.closed));
    await expect.poll(gauges, { timeout: 10_000 }).toEqual({ subscriptions: 0, webSockets: 0 });
    // A socket's timers (keep-alive ping, token expiry, init deadline) are cleared as it closes.
    // At most the baseline's: a timer pending when it was taken (a retry, a limiter's expiry) may have fired since.
    expect(timers()).toBeLessThanOrEqual(baseline.timers);
    expect(serverListeners()).toEqual(baseline.serverListeners);
    expect(await generationChannels()).toEqual([]);
  });
});
