/**
 * The cognito provider against a real cognito-local server (no mocks of Cognito).
 * Where cognito-local differs from AWS in a way that matters, a test named "cognito-local gap"
 * pins down today's behaviour so that an upgrade that fixes it shows up as a failure here.
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { SignJWT, decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCognitoProvider } from './cognito.ts';
import type { IdentityProvider } from './identity.ts';
import { startCognitoLocal, type CognitoLocal } from '../../test/support/cognito-local.ts';

const PASSWORD = 'Correct-Horse-42';
const NEW_PASSWORD = 'Battery-Staple-43';

let local: CognitoLocal;
let provider: IdentityProvider;
const logger = { error: vi.fn() };
const openedProviders: IdentityProvider[] = [];

beforeAll(async () => {
  local = await startCognitoLocal();
  provider = providerFor(local.clientId);
});

afterAll(async () => {
  await Promise.all(openedProviders.map((p) => p.close()));
  await local?.stop();
});

function providerFor(clientId: string): IdentityProvider {
  const created = createCognitoProvider({ ...local.providerOptions(clientId), logger });
  openedProviders.push(created);
  return created;
}

const newEmail = () => `user-${randomUUID()}@example.com`;

async function confirmedUser(email = newEmail()) {
  const { userId } = await provider.signUp(email, PASSWORD);
  await provider.confirmSignUp(email, await local.readLatestCode(email));
  return { email, userId };
}

const rejectsWith = (promise: Promise<unknown>, code: string) =>
  expect(promise).rejects.toMatchObject({ name: 'AppError', code });

describe('cognito provider against cognito-local', () => {
  it('takes an account through sign-up, sessions, password reset, roles', async () => {
    const email = newEmail();

    const signedUp = await provider.signUp(email, PASSWORD);
    expect(signedUp).toEqual({ userId: expect.any(String), confirmed: false });
    await rejectsWith(provider.logIn(email, PASSWORD), 'FORBIDDEN');

    await provider.confirmSignUp(email, await local.readLatestCode(email));
    const session = await provider.logIn(email, PASSWORD);
    expect(session.expiresIn).toBeGreaterThan(0);
    expect(await provider.verifyAccessToken(session.accessToken)).toEqual({
      userId: signedUp.userId,
      email,
      roles: ['users'],
      expiresAt: decodeJwt(session.accessToken).exp,
    });

    const refreshed = await provider.refreshSession(session.refreshToken);
    expect(refreshed.refreshToken).toBe(session.refreshToken);
    expect((await provider.verifyAccessToken(refreshed.accessToken)).userId).toBe(signedUp.userId);

    await provider.logOut(refreshed.accessToken, session.refreshToken);
    await rejectsWith(provider.refreshSession(session.refreshToken), 'UNAUTHENTICATED');

    await provider.forgotPassword(email);
    await provider.confirmForgotPassword(email, await local.readLatestCode(email), NEW_PASSWORD);
    await rejectsWith(provider.logIn(email, PASSWORD), 'UNAUTHENTICATED');
    const afterReset = await provider.logIn(email, NEW_PASSWORD);

    await provider.setUserRole(signedUp.userId, 'admin');
    // Groups are copied into tokens when they are issued; the old token keeps its roles.
    expect((await provider.verifyAccessToken(afterReset.accessToken)).roles).toEqual(['users']);
    const asAdmin = await provider.logIn(email, NEW_PASSWORD);
    expect((await provider.verifyAccessToken(asAdmin.accessToken)).roles).toEqual(['admin']);

    await provider.setUserRole(signedUp.userId, 'premium');
    const asPremium = await provider.logIn(email, NEW_PASSWORD);
    expect((await provider.verifyAccessToken(asPremium.accessToken)).roles).toEqual(['premium']);
  });

  describe('credentials and codes', () => {
    it('refuses a wrong password and an unknown email alike', async () => {
      const { email } = await confirmedUser();
      await rejectsWith(provider.logIn(email, 'Wrong-Password-1'), 'UNAUTHENTICATED');
      await rejectsWith(provider.logIn(newEmail(), PASSWORD), 'UNAUTHENTICATED');
    });

    it('matches emails case-insensitively', async () => {
      const { email } = await confirmedUser();
      await expect(provider.logIn(email.toUpperCase(), PASSWORD)).resolves.toBeDefined();
    });

    it('refuses a wrong confirmation code', async () => {
      const email = newEmail();
      await provider.signUp(email, PASSWORD);
      const code = await local.readLatestCode(email);
      const wrong = code === '000000' ? '111111' : '000000';
      await rejectsWith(provider.confirmSignUp(email, wrong), 'BAD_USER_INPUT');
    });

    it('accepts only the latest password-reset code', async () => {
      const { email } = await confirmedUser();
      await provider.forgotPassword(email);
      const first = await local.readLatestCode(email);
      await provider.forgotPassword(email);
      const latest = await local.readLatestCode(email);
      if (first !== latest) {
        const stale = provider.confirmForgotPassword(email, first, NEW_PASSWORD);
        await rejectsWith(stale, 'BAD_USER_INPUT');
      }
      await provider.confirmForgotPassword(email, latest, NEW_PASSWORD);
      await expect(provider.logIn(email, NEW_PASSWORD)).resolves.toBeDefined();
    });

    it('answers a taken email like a new one, and refuses a malformed email', async () => {
      const { email, userId } = await confirmedUser();
      const again = await provider.signUp(email, PASSWORD);
      expect(again).toEqual({ userId: expect.any(String), confirmed: false });
      expect(again.userId).not.toBe(userId);
      await rejectsWith(provider.signUp('not-an-email', PASSWORD), 'BAD_USER_INPUT');
    });

    it('refuses a common password before asking the pool', async () => {
      await rejectsWith(provider.signUp(newEmail(), 'Password1'), 'BAD_USER_INPUT');
    });

    it('does not reveal unknown emails when a password reset is asked for', async () => {
      await expect(provider.forgotPassword(newEmail())).resolves.toBeUndefined();
    });
  });

  describe('admin operations', () => {
    it('answers NOT_FOUND for unknown user ids, and for strings that are not ids', async () => {
      await rejectsWith(provider.setUserRole(randomUUID(), 'admin'), 'NOT_FOUND');
      await rejectsWith(provider.disableUser(randomUUID()), 'NOT_FOUND');
      await rejectsWith(provider.setUserRole('" or sub ^= "', 'admin'), 'NOT_FOUND');
    });

    it('disables the account in the pool', async () => {
      const { email, userId } = await confirmedUser();
      await provider.disableUser(userId);
      const sdk = new CognitoIdentityProviderClient({
        region: local.region,
        endpoint: local.endpoint,
        credentials: local.credentials,
      });
      try {
        const user = await sdk.send(
          new AdminGetUserCommand({ UserPoolId: local.userPoolId, Username: email }),
        );
        expect(user.Enabled).toBe(false);
      } finally {
        sdk.destroy();
      }
    });

    // AWS refuses with NotAuthorizedException "User is disabled.": see cognito-errors.test.ts.
    it('cognito-local gap: a disabled user can still log in', async () => {
      const { email, userId } = await confirmedUser();
      await provider.disableUser(userId);
      await expect(provider.logIn(email, PASSWORD)).resolves.toBeDefined();
    });
  });

  describe('access token verification', () => {
    let session: Awaited<ReturnType<IdentityProvider['logIn']>>;
    beforeAll(async () => {
      const { email } = await confirmedUser();
      session = await provider.logIn(email, PASSWORD);
    });

    it('refuses a token whose payload was altered', async () => {
      const [header, , signature] = session.accessToken.split('.');
      const claims = { ...decodeJwt(session.accessToken), 'cognito:groups': ['admin'] };
      const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
      const tampered = `${header}.${forged}.${signature}`;
      await rejectsWith(provider.verifyAccessToken(tampered), 'UNAUTHENTICATED');
    });

    it('refuses an id token used as an access token', async () => {
      await rejectsWith(provider.verifyAccessToken(session.idToken), 'UNAUTHENTICATED');
    });

    it('refuses a token issued to another app client', async () => {
      const otherClient = providerFor(await local.createClient());
      const { email } = await confirmedUser();
      const other = await otherClient.logIn(email, PASSWORD);
      await expect(otherClient.verifyAccessToken(other.accessToken)).resolves.toBeDefined();
      await rejectsWith(provider.verifyAccessToken(other.accessToken), 'UNAUTHENTICATED');
    });

    it('refuses tokens signed by another key, whatever issuer they claim', async () => {
      const { sub = '', client_id } = decodeJwt(session.accessToken);
      const { privateKey } = await generateKeyPair('RS256');
      const sign = (issuer: string) =>
        new SignJWT({ client_id, token_use: 'access', 'cognito:groups': ['admin'] })
          .setProtectedHeader({ alg: 'RS256', kid: 'CognitoLocal' })
          .setSubject(sub)
          .setIssuer(issuer)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(privateKey);
      const otherIssuer = await sign('https://attacker.example');
      await rejectsWith(provider.verifyAccessToken(otherIssuer), 'UNAUTHENTICATED');
      await rejectsWith(provider.verifyAccessToken(await sign(local.issuer)), 'UNAUTHENTICATED');
    });

    it('refuses a correctly signed token that never expires', async () => {
      // cognito-local signs with a key shipped in its package, so a test can mint tokens
      // with exactly the claims it wants; the signature is genuine.
      const pem = (await import('cognito-local/lib/keys/cognitoLocal.private.json')).default.pem;
      const key = createPrivateKey(pem);
      const { sub = '', client_id } = decodeJwt(session.accessToken);
      const mint = (expires: boolean) => {
        const jwt = new SignJWT({ client_id, token_use: 'access' })
          .setProtectedHeader({ alg: 'RS256', kid: 'CognitoLocal' })
          .setSubject(sub)
          .setIssuer(local.issuer)
          .setIssuedAt();
        return (expires ? jwt.setExpirationTime('1h') : jwt).sign(key);
      };
      await expect(provider.verifyAccessToken(await mint(true))).resolves.toBeDefined();
      await rejectsWith(provider.verifyAccessToken(await mint(false)), 'UNAUTHENTICATED');
    });

    it('refuses cognito-local tokens when configured for an AWS pool', async () => {
      const aws = createCognitoProvider({
        region: 'us-east-1',
        userPoolId: 'us-east-1_AbCdEfGhI',
        clientId: local.clientId,
        logger,
      });
      openedProviders.push(aws);
      await rejectsWith(aws.verifyAccessToken(session.accessToken), 'UNAUTHENTICATED');
    });

    it('refuses an expired token', async () => {
      // Long enough to verify once on a slow CI machine, short enough to wait out.
      const shortLived = providerFor(await local.createClient({ accessTokenValiditySeconds: 3 }));
      const { email } = await confirmedUser();
      const { accessToken } = await shortLived.logIn(email, PASSWORD);
      await expect(shortLived.verifyAccessToken(accessToken)).resolves.toBeDefined();
      const { exp } = decodeJwt(accessToken);
      await sleep(((exp ?? 0) + 1) * 1000 - Date.now());
      await rejectsWith(shortLived.verifyAccessToken(accessToken), 'UNAUTHENTICATED');
    });
  });

  describe('cognito-local gaps in operations AWS has', () => {
    it('ResendConfirmationCode is unsupported, so it surfaces as INTERNAL', async () => {
      const email = newEmail();
      await provider.signUp(email, PASSWORD);
      logger.error.mockClear();
      await rejectsWith(provider.resendConfirmationCode(email), 'INTERNAL');
      expect(logger.error).toHaveBeenCalledOnce();
    });

    it('GlobalSignOut is unsupported: log-out needs the refresh token (RevokeToken)', async () => {
      const { email } = await confirmedUser();
      const session = await provider.logIn(email, PASSWORD);
      await rejectsWith(provider.logOut(session.accessToken), 'INTERNAL');
      await provider.logOut(session.accessToken, session.refreshToken);
      await rejectsWith(provider.refreshSession(session.refreshToken), 'UNAUTHENTICATED');
    });
  });
});
