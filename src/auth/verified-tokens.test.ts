import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hash } from '@node-rs/argon2';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig, type LocalAuthConfig } from '../config.ts';
import { createLogger } from '../observability/logger.ts';
import { connectDynamo, type Dynamo } from '../store/dynamo.ts';
import { UserRepository } from '../store/users.ts';
import type { IdentityProvider } from './identity.ts';
import { createLocalProvider } from './local.ts';
import { createOutboxMailer } from './mailer.ts';
import { loadOrCreateSigningKeys } from './signing-keys.ts';
import { cacheVerifiedTokens } from './verified-tokens.ts';

const PASSWORD = 'correct-horse-9';
let dir: string;
let dynamo: Dynamo;
let local: IdentityProvider;
let users: UserRepository;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-verified-tokens-'));
  const config = loadConfig({ DATA_DIR: dir, ACCESS_TOKEN_TTL_SECONDS: '600' });
  dynamo = await connectDynamo(config);
  users = new UserRepository(dynamo);
  const logger = createLogger('silent');
  local = createLocalProvider({
    config: config.auth as LocalAuthConfig,
    users,
    mailer: createOutboxMailer(dir, logger),
    keys: await loadOrCreateSigningKeys(dir),
  });
});

afterAll(async () => {
  await dynamo.close();
  await fs.rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

let counter = 0;
async function logIn(): Promise<string> {
  const email = `cache-${counter++}@example.com`;
  await users.create({ userId: crypto.randomUUID(), email, role: 'users', status: 'CONFIRMED', createdAt: new Date().toISOString(), passwordHash: await hash(PASSWORD) });
  return (await local.logIn(email, PASSWORD)).accessToken;
}

describe('cacheVerifiedTokens', () => {
  it('verifies a token once and answers again from memory, with the same identity', async () => {
    const token = await logIn();
    const verify = vi.spyOn(local, 'verifyAccessToken');
    const cached = cacheVerifiedTokens(local);
    const first = await cached.verifyAccessToken(token);
    const second = await cached.verifyAccessToken(token);
    expect(verify).toHaveBeenCalledTimes(1);
    expect(second).toEqual(first);
    expect(first).toEqual(await local.verifyAccessToken(token));
  });

  it('hands out an identity no request can change for the others', async () => {
    const identity = await cacheVerifiedTokens(local).verifyAccessToken(await logIn());
    expect(() => identity.roles.push('admin')).toThrow(TypeError);
    expect(() => Object.assign(identity, { userId: 'someone-else' })).toThrow(TypeError);
  });

  it('stops answering from memory when the token expires: the provider refuses it then', async () => {
    const token = await logIn();
    const cached = cacheVerifiedTokens(local);
    const { expiresAt } = await cached.verifyAccessToken(token);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(expiresAt * 1000 - 1_000);
    await expect(cached.verifyAccessToken(token)).resolves.toMatchObject({ expiresAt });
    // Past the provider's allowance for clock skew too.
    vi.setSystemTime(expiresAt * 1000 + 60_000);
    await expect(cached.verifyAccessToken(token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('never remembers a refusal', async () => {
    const token = await logIn();
    const [header, payload] = token.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not a signature').toString('base64url')}`;
    const verify = vi.spyOn(local, 'verifyAccessToken');
    const cached = cacheVerifiedTokens(local);
    await expect(cached.verifyAccessToken(forged)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(cached.verifyAccessToken(forged)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('forgets a token that logs out, so that the provider decides about it again', async () => {
    const token = await logIn();
    const verify = vi.spyOn(local, 'verifyAccessToken');
    const cached = cacheVerifiedTokens(local);
    await cached.verifyAccessToken(token);
    await cached.logOut(token);
    await cached.verifyAccessToken(token);
    expect(verify).toHaveBeenCalledTimes(2);
  });

  it('keeps at most maxEntries tokens', async () => {
    const [a, b, c] = await Promise.all([logIn(), logIn(), logIn()]);
    const verify = vi.spyOn(local, 'verifyAccessToken');
    const cached = cacheVerifiedTokens(local, 2);
    for (const token of [a!, b!, c!, c!, b!]) await cached.verifyAccessToken(token);
    expect(verify).toHaveBeenCalledTimes(3);
    await cached.verifyAccessToken(a!); // the least recently used, dropped when c came in
    expect(verify).toHaveBeenCalledTimes(4);
  });
});
