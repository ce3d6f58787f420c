import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisableUserDocument, LogInDocument, MeDocument, RefreshSessionDocument, SetUserRoleDocument, UsersDocument } from '../../src/generated/graphql.ts';
import { errorCodes, postGraphQL, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;
let signingJwk: JWK;

beforeAll(async () => {
  t = await startTestApp();
  user = await t.newUser();
  signingJwk = JSON.parse(await fs.readFile(path.join(t.dataDir, 'keys', 'jwt-signing-key.json'), 'utf8')) as JWK;
});
afterAll(() => t.stop());

/** A token shaped like ours, signed with our real key unless told otherwise. */
async function forge(claims: Record<string, unknown>, options: { expiresAt?: number; notBefore?: number; issuer?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    sub: user.userId,
    client_id: 'gptql',
    token_use: 'access',
    username: user.email,
    sid: crypto.randomUUID(),
    'cognito:groups': ['users'],
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: signingJwk.kid })
    .setIssuer(options.issuer ?? t.app.services.config.publicUrl)
    .setIssuedAt(now - 10)
    .setExpirationTime(options.expiresAt ?? now + 600);
  if (options.notBefore) jwt.setNotBefore(options.notBefore);
  return jwt.sign(await importJWK(signingJwk, 'RS256'));
}

const meWith = async (token: string) => postGraphQL(t.url, { query: '{ me { id } }' }, token);

describe('access tokens', () => {
  it('accepts a forged-but-correct token (so the refusals below are meaningful)', async () => {
    const response = await meWith(await forge({}));
    expect(response.data).toEqual({ me: { id: user.id } });
  });

  it('refuses expired, not-yet-valid, tampered, wrong-issuer, wrong-client and id tokens with UNAUTHENTICATED', async () => {
    const now = Math.floor(Date.now() / 1000);
    const [header, payload, signature] = user.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, 'cognito:groups': ['admin'] })).toString('base64url')}.${signature}`;
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const login = (await t.gql(LogInDocument, { email: user.email, password: user.password })).data!.logIn;

    // The algorithm is pinned: a token "signed" with HS256 using the public key as the secret
    // verifies under a library that lets the token pick its algorithm.
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = signingJwk;
    const publicPem = crypto.createPublicKey({ key: publicJwk as crypto.JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hsConfused = await new SignJWT({ sub: user.userId, client_id: 'gptql', token_use: 'access', username: user.email, sid: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'HS256', kid: signingJwk.kid })
      .setIssuer(t.app.services.config.publicUrl)
      .setIssuedAt()
      .setExpirationTime(now + 600)
      .sign(new TextEncoder().encode(publicPem as string));

    const bad = {
      algNone: unsigned,
      hsConfused,
      expired: await forge({}, { expiresAt: now - 3600 }),
      notYetValid: await forge({}, { notBefore: now + 3600 }),
      // Beyond the 30 s of tolerated clock skew, either way.
      expiredBeyondSkew: await forge({}, { expiresAt: now - 31 }),
      notValidForAMinute: await forge({}, { notBefore: now + 60 }),
      tampered,
      wrongIssuer: await forge({}, { issuer: 'https://evil.example.com' }),
      wrongClient: await forge({ client_id: 'someone-else' }),
      wrongTokenUse: await forge({ token_use: 'id' }),
      idToken: login.idToken,
      garbage: 'not.a.token',
    };
    for (const [name, token] of Object.entries(bad)) {
      const response = await meWith(token);
      expect({ name, codes: errorCodes(response), status: response.status }).toEqual({ name, codes: ['UNAUTHENTICATED'], status: 401 });
    }
    const malformedHeader = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Basic abc' },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(malformedHeader.status).toBe(401);
  });
});

describe('roles', () => {
  it('refuses admin-only operations to a user and allows them to an admin', async () => {
    expect(errorCodes(await t.gql(UsersDocument, { first: 10 }, user.accessToken))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(UsersDocument, { first: 10 }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(SetUserRoleDocument, { userId: user.userId, role: 'ADMIN' }, user.accessToken))).toEqual(['FORBIDDEN']);

    const admin = await t.newUser();
    await t.app.services.users.update(admin.userId, { role: 'admin' });
    const adminToken = (await t.gql(LogInDocument, { email: admin.email, password: admin.password })).data!.logIn.accessToken;

    const listed = (await t.gql(UsersDocument, { first: 100 }, adminToken)).data!.users;
    expect(listed.edges.map((e) => e.node.id)).toEqual(expect.arrayContaining([user.id, admin.id]));
    expect(listed.edges[0]!.node.id).toBe(admin.id); // newest first

    const premium = await t.gql(SetUserRoleDocument, { userId: user.userId, role: 'PREMIUM' }, adminToken);
    expect(premium.data?.setUserRole.role).toBe('PREMIUM');
    const refreshed = (await t.gql(RefreshSessionDocument, { refreshToken: user.refreshToken })).data!.refreshSession;
    expect((await t.gql(MeDocument, {}, refreshed.accessToken)).data?.me.role).toBe('PREMIUM');

    expect(errorCodes(await t.gql(SetUserRoleDocument, { userId: 'no-such-user', role: 'ADMIN' }, adminToken))).toEqual(['NOT_FOUND']);

    const disabled = await t.gql(DisableUserDocument, { userId: user.userId }, adminToken);
    expect(disabled.data?.disableUser.status).toBe('DISABLED');
    expect(errorCodes(await t.gql(LogInDocument, { email: user.email, password: user.password }))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: refreshed.refreshToken }))).toEqual(['UNAUTHENTICATED']);
  });
});
