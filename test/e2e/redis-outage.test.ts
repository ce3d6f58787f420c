/**
 * Redis going away and coming back under one `all` process (its own redis-server, killed and
 * started again on the same port, empty, as a replaced node is): while it is gone a request that
 * needs it answers UNAVAILABLE within DEPENDENCY_TIMEOUT_MS (503 with Retry-After) instead of
 * hanging, /ready names it and /health stays 200, requests that do not need it go on; once it is
 * back, generation works again without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationEventsDocument, MeDocument, SendMessageDocument, UsageChangedDocument } from '../../src/generated/graphql.ts';
import { errorCodes, postGraphQL, startTestApp, type TestApp } from '../support/harness.ts';
import { privateRedis, type PrivateServer } from '../support/private-services.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';
import { print } from 'graphql';
import { Redis } from 'ioredis';

let redis: PrivateServer;
let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  redis = await privateRedis();
  await redis.start();
  t = await startTestApp({ ROLE: 'all', REDIS_URL: redis.url, DEPENDENCY_TIMEOUT_MS: '500', RATE_LIMIT_PER_MINUTE: '1000', QUEUE_VISIBILITY_TIMEOUT_SECONDS: '3' });
  user = await t.newUser();
});
afterAll(async () => {
  await t?.stop();
  await redis?.kill();
});

const send = (content: string) => postGraphQL<{ sendMessage: { id: string } }>(t.url, { query: print(SendMessageDocument), variables: { input: { content, params: { maxTokens: 4 } } } }, user.accessToken);

const metric = async (name: string, labels: Record<string, string>) =>
  (await t.infra.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, value]) => v.labels[k] === value))?.value;

async function completes(content: string) {
  const sent = await send(content);
  expect(sent.errors).toBeUndefined();
  const client = wsClient(t.url, user.accessToken);
  const events = await collectSubscription(client, GenerationEventsDocument, { id: sent.data!.sendMessage.id, after: 0 });
  await client.dispose();
  return events.at(-1)!.data!.generation.__typename;
}

describe('Redis outage', () => {
  it('answers UNAVAILABLE quickly while Redis is gone, and generates again once it is back', async () => {
    expect(await completes('Before the outage')).toBe('GenerationCompleted');
    // A subscription open as Redis goes away.
    const client = wsClient(t.url, user.accessToken);
    client.subscribe({ query: print(UsageChangedDocument) }, { next: () => {}, error: () => {}, complete: () => {} });
    const probe = new Redis(redis.url);
    const usageChannel = `${t.infra.config.redisPrefix}usage:${user.userId}`;
    await expect.poll(() => probe.pubsub('NUMSUB', usageChannel), { timeout: 5_000 }).toEqual([usageChannel, 1]);
    probe.disconnect();

    await redis.kill();
    const started = performance.now();
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
      body: JSON.stringify({ query: print(SendMessageDocument), variables: { input: { content: 'During the outage', params: { maxTokens: 4 } } } }),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string; retryAfter?: number; http?: unknown } }[] };
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(body.errors?.map((e) => e.extensions?.code)).toEqual(['UNAVAILABLE']);
    expect(body.errors?.[0]?.extensions?.http).toBeUndefined();

    const ready = await fetch(`${t.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('redis');
    // What the alerts read: the readiness check's verdict, and the failed connection attempts.
    expect(await metric('dependency_up', { dependency: 'redis' })).toBe(0);
    expect(await metric('dependency_up', { dependency: 'database' })).toBe(1);
    expect(await metric('dependency_errors_total', { dependency: 'redis' })).toBeGreaterThan(0);
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
    // What needs no Redis goes on.
    expect(errorCodes(await t.gql(MeDocument, {}, user.accessToken))).toEqual([]);

    // A client leaving while Redis is gone: its UNSUBSCRIBE waits for Redis rather than failing
    // unhandled (which would end the process).
    client.terminate();
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    await redis.start();
    await expect.poll(async () => (await fetch(`${t.url}/ready`)).status, { timeout: 15_000 }).toBe(200);
    expect(await metric('dependency_up', { dependency: 'redis' })).toBe(1);
    expect(await completes('After the outage')).toBe('GenerationCompleted');
  }, 60_000);
});
