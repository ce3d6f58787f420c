import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MeDocument } from '../../src/generated/graphql.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { REDIS_URL } from '../support/services.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

describe('operational endpoints', () => {
  it('answers /health and /ready', async () => {
    const health = await fetch(`${t.url}/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok' } });
  });

  it('reports not ready when the database stops answering', async () => {
    const other = await startTestApp();
    await other.app.services.dynamo.close();
    try {
      const ready = await fetch(`${other.url}/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { checks: { database: string } }).checks.database).toMatch(/^failing/);
    } finally {
      await other.app.stop().catch(() => {});
    }
  });

  it.skipIf(!inject('redisAvailable'))('checks Redis when it is configured', async () => {
    const withRedis = await startTestApp({ REDIS_URL });
    const deadRedis = await startTestApp({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const good = await fetch(`${withRedis.url}/ready`);
      expect(await good.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });
      const bad = await fetch(`${deadRedis.url}/ready`);
      expect(bad.status).toBe(503);
      expect(((await bad.json()) as { checks: { redis: string } }).checks.redis).toMatch(/^failing/);
    } finally {
      await withRedis.stop();
      await deadRedis.stop();
    }
  });

  it('counts operations by name and type, never by user or path', async () => {
    const user = await t.newUser();
    await t.gql(MeDocument, {}, user.accessToken);
    const text = await (await fetch(`${t.url}/metrics`)).text();
    expect(text).toMatch(/api_requests_total\{operation_name="Me",operation_type="query"\} [1-9]/);
    expect(text).toMatch(/api_request_duration_seconds_count\{operation_name="LogIn",operation_type="mutation"\} [1-9]/);
    expect(text).not.toContain(user.userId);
    expect(text).not.toContain(user.email);
  });

  it('serves the JWKS that verifies its tokens', async () => {
    const jwks = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; d?: string; alg: string }[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ alg: 'RS256', kty: 'RSA' });
    expect(jwks.keys[0]!.d).toBeUndefined(); // no private parts
    const user = await t.newUser();
    const header = JSON.parse(Buffer.from(user.accessToken.split('.')[0]!, 'base64url').toString()) as { kid: string };
    expect(header.kid).toBe(jwks.keys[0]!.kid);
  });
});
