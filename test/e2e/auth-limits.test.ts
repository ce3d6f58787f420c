/**
 * Attempt limits on the auth mutations (in memory and in Redis), the client address they are
 * keyed on, indistinguishable answers, and the audit trail.
 */
import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CreateConversationDocument, DeleteConversationDocument, DisableUserDocument, LogInDocument, SetUserRoleDocument } from '../../src/generated/graphql.ts';
import { errorCodes, postGraphQL, rawIdOf, startTestApp, uniqueEmail, type TestApp } from '../support/harness.ts';
import { REDIS_URL } from '../support/services.ts';

const LIMITS = { AUTH_MAX_FAILED_ATTEMPTS: '3', AUTH_RATE_LIMIT_PER_IP: '100', TRUST_PROXY: 'loopback' };
const randomIp = () => `203.0.${crypto.randomInt(0, 256)}.${crypto.randomInt(1, 255)}`;

/** The cheapest auth attempt (no password hashing): a refresh with a garbage token. */
async function attemptFrom(t: TestApp, ip: string) {
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ query: 'mutation { refreshSession(refreshToken: "garbage") { accessToken } }' }),
  });
  const body = (await response.json()) as { errors?: { extensions: { code: string; retryAfter?: number } }[] };
  return body.errors ?? [];
}

async function logInFrom(t: TestApp, ip: string, email: string, password: string) {
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ query: 'mutation ($email: String!, $password: String!) { logIn(email: $email, password: $password) { accessToken } }', variables: { email, password } }),
  });
  return (await response.json()) as { data?: unknown; errors?: { extensions: { code: string; retryAfter?: number } }[] };
}

const auditLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.audit === true) auditLines.push(parsed);
    }
    done();
  },
});

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp(LIMITS, undefined, pino({ level: 'info' }, sink));
});
afterAll(() => t.stop());

describe('per-account lock-out', () => {
  it('locks sign-in after repeated wrong passwords, for known and unknown emails alike', async () => {
    const user = await t.newUser();
    const ghost = uniqueEmail('ghost');
    for (const email of [user.email, ghost]) {
      for (let i = 0; i < 3; i++) expect(errorCodes(await t.gql(LogInDocument, { email, password: 'wrong-pass-1' }))).toEqual(['UNAUTHENTICATED']);
      const locked = await t.gql(LogInDocument, { email, password: user.password });
      expect(errorCodes(locked)).toEqual(['RATE_LIMITED']);
      expect(locked.errors![0]!.extensions!.retryAfter).toBeGreaterThan(800);
      expect(locked.errors![0]!.message).toBe('Too many failed sign-ins for this account; try again later');
    }
  });

  it('starts counting again after a successful sign-in', async () => {
    const user = await t.newUser();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) await t.gql(LogInDocument, { email: user.email, password: 'wrong-pass-1' });
      expect((await t.gql(LogInDocument, { email: user.email, password: user.password })).data?.logIn.accessToken).toBeTruthy();
    }
  });
});

describe('per-IP limits and the client address', () => {
  it('limits attempts per client IP, believing X-Forwarded-For only from trusted proxies', async () => {
    const ip = randomIp();
    for (let i = 0; i < 100; i++) expect((await attemptFrom(t, ip)).map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
    const limited = await attemptFrom(t, ip);
    expect(limited.map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    expect(limited[0]!.extensions.retryAfter).toBeGreaterThan(800);
    expect((await logInFrom(t, ip, uniqueEmail(), 'wrong-pass-1')).errors?.map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    expect((await attemptFrom(t, randomIp())).map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);

    // Without TRUST_PROXY the header is ignored: every request counts against the socket address.
    const direct = await startTestApp({ AUTH_RATE_LIMIT_PER_IP: '3' });
    try {
      for (let i = 0; i < 3; i++) await attemptFrom(direct, randomIp());
      expect((await attemptFrom(direct, randomIp())).map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    } finally {
      await direct.stop();
    }
  });

  it.skipIf(!inject('redisAvailable'))('shares counts across API processes through Redis', async () => {
    const env = { ...LIMITS, REDIS_URL };
    const [one, two] = [await startTestApp(env), await startTestApp(env)];
    try {
      const email = uniqueEmail('shared');
      const ip = randomIp();
      await logInFrom(one, ip, email, 'wrong-pass-1');
      await logInFrom(two, ip, email, 'wrong-pass-1');
      await logInFrom(one, ip, email, 'wrong-pass-1');
      expect((await logInFrom(two, ip, email, 'wrong-pass-1')).errors?.map((e) => e.extensions.code)).toEqual(['RATE_LIMITED']);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});

describe('indistinguishable answers', () => {
  it('takes as long for an unknown email as for a wrong password', async () => {
    const user = await t.newUser();
    const time = async (email: string) => {
      const started = process.hrtime.bigint();
      await t.gql(LogInDocument, { email, password: 'wrong-pass-1' });
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    // Alternate, and stay under the lock-out, so that both see the same load.
    for (let i = 0; i < 6; i++) {
      if (i % 2 === 0) await t.gql(LogInDocument, { email: user.email, password: user.password });
      known.push(await time(user.email));
      unknown.push(await time(uniqueEmail('nobody')));
    }
    // Both verify one argon2id hash; without the dummy hash an unknown email answers ~10x faster.
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});

describe('audit log', () => {
  it('writes sign-in, failed sign-in, role change, disable and deletion as audit lines', async () => {
    const admin = await t.newUser();
    await t.app.services.users.update(admin.userId, { role: 'admin' });
    const adminToken = (await t.gql(LogInDocument, { email: admin.email, password: admin.password })).data!.logIn.accessToken;
    const target = await t.newUser();
    await t.gql(LogInDocument, { email: target.email, password: 'wrong-pass-1' });
    const conversation = (await t.gql(CreateConversationDocument, {}, target.accessToken)).data!.createConversation;
    await t.gql(DeleteConversationDocument, { id: conversation.id }, target.accessToken);
    await t.gql(SetUserRoleDocument, { userId: target.userId, role: 'PREMIUM' }, adminToken);
    await t.gql(DisableUserDocument, { userId: target.userId }, adminToken);
    // A refused attempt is not audited as a change.
    await postGraphQL(t.url, { query: `mutation { disableUser(userId: "${admin.userId}") { id } }` }, target.accessToken);

    const events = auditLines.filter((line) => [admin.userId, target.userId].includes(line.userId as string) || line.email === target.email);
    const byEvent = (event: string) => events.filter((line) => line.event === event);
    const requestId = expect.stringMatching(/^[0-9a-f-]{36}$/);
    expect(byEvent('auth.sign_in')).toContainEqual(expect.objectContaining({ userId: admin.userId, requestId, clientIp: '127.0.0.1' }));
    expect(byEvent('auth.sign_in_failed')).toContainEqual(expect.objectContaining({ email: target.email, code: 'UNAUTHENTICATED', requestId }));
    expect(byEvent('conversation.deleted')).toEqual([expect.objectContaining({ userId: target.userId, conversationId: rawIdOf(conversation.id), requestId })]);
    expect(byEvent('user.role_changed')).toEqual([expect.objectContaining({ userId: admin.userId, targetUserId: target.userId, role: 'premium', requestId })]);
    expect(byEvent('user.disabled')).toEqual([expect.objectContaining({ userId: admin.userId, targetUserId: target.userId, requestId })]);
    for (const line of events) expect(line).toMatchObject({ audit: true, level: 30, msg: line.event });
  });
});
