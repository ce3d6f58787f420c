/**
 * The embedded identity provider: users in the users table, argon2id password hashes, RS256
 * tokens shaped like Cognito's (so that the rest of the code sees one kind of token), and
 * codes delivered through the mailer.
 */
import crypto from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { SignJWT } from 'jose';
import { JwtVerifier } from 'aws-jwt-verify';
import type { LocalAuthConfig } from '../config.ts';
import { AppError, ErrorCode, badInput, forbidden, notFound, unauthenticated } from '../errors.ts';
import type { PendingCode, UserRecord, UserRepository } from '../store/users.ts';
import type { Identity, IdentityProvider, Role, Session, SignUpResult } from './identity.ts';
import type { Mailer } from './mailer.ts';
import { rolesFromGroups } from './roles.ts';
import type { SigningKeys } from './signing-keys.ts';
import { checkEmail, checkPassword } from './policy.ts';

const CODE_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_CODE_ATTEMPTS = 5;
/** Clock skew tolerated between the issuing and verifying processes. */
const GRACE_SECONDS = 30;

const sha256 = (value: string) => crypto.createHash('sha256').update(value).digest('hex');
const newCode = () => crypto.randomInt(0, 1_000_000).toString().padStart(6, '0');
const randomSecret = () => crypto.randomBytes(32).toString('base64url');

interface RefreshToken {
  userId: string;
  sessionId: string;
  secret: string;
}

// Refresh tokens are opaque to clients: `userId.sessionId.secret`, of which only a hash is stored.
const encodeRefreshToken = (t: RefreshToken) => `${t.userId}.${t.sessionId}.${t.secret}`;
function decodeRefreshToken(token: string): RefreshToken | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[\w-]{1,100}$/.test(part))) return undefined;
  const [userId, sessionId, secret] = parts as [string, string, string];
  return { userId, sessionId, secret };
}

export interface LocalProviderDeps {
  config: LocalAuthConfig;
  users: UserRepository;
  mailer: Mailer;
  keys: SigningKeys;
}

export function createLocalProvider({ config, users, mailer, keys }: LocalProviderDeps): IdentityProvider {
  const verifier = JwtVerifier.create({
    issuer: config.issuer,
    audience: null, // access tokens carry client_id, not aud, as Cognito's do; checked below
    graceSeconds: GRACE_SECONDS,
    customJwtCheck: ({ header, payload }) => {
      if (header.alg !== 'RS256') throw new Error('unexpected algorithm');
      if (payload.token_use !== 'access') throw new Error('not an access token');
      if (payload.client_id !== config.clientId) throw new Error('wrong client');
    },
  });
  verifier.cacheJwks(keys.jwks as Parameters<typeof verifier.cacheJwks>[0]);

  async function sign(claims: Record<string, unknown>, expiresInSeconds: number): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: keys.kid, typ: 'JWT' })
      .setIssuer(config.issuer)
      .setIssuedAt()
      .setJti(crypto.randomUUID())
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
      .sign(keys.privateKey);
  }

  async function issueSession(user: UserRecord, sessionId: string, secret: string): Promise<Session> {
    const ttl = config.accessTokenTtlSeconds;
    const groups = [user.role];
    const [accessToken, idToken] = await Promise.all([
      sign({ sub: user.userId, client_id: config.clientId, token_use: 'access', username: user.email, 'cognito:groups': groups, sid: sessionId }, ttl),
      sign({ sub: user.userId, aud: config.clientId, token_use: 'id', email: user.email, email_verified: true, 'cognito:groups': groups }, ttl),
    ]);
    return { accessToken, idToken, refreshToken: encodeRefreshToken({ userId: user.userId, sessionId, secret }), expiresIn: ttl };
  }

  function pendingCode(code: string): PendingCode {
    return { hash: sha256(code), expiresAt: Date.now() + CODE_TTL_MS, attempts: 0 };
  }

  /** Checks a code, counting failures so that a 6-digit code cannot be guessed by brute force. */
  async function consumeCode(user: UserRecord, field: 'confirmationCode' | 'resetCode', code: string): Promise<void> {
    const pending = user[field];
    const invalid = badInput('Invalid or expired code', { argument: 'code' });
    if (!pending || pending.expiresAt < Date.now() || pending.attempts >= MAX_CODE_ATTEMPTS) throw invalid;
    if (sha256(code) !== pending.hash) {
      await users.update(user.userId, { [field]: { ...pending, attempts: pending.attempts + 1 } });
      throw invalid;
    }
  }

  async function sendConfirmation(user: UserRecord): Promise<void> {
    const code = newCode();
    await users.update(user.userId, { confirmationCode: pendingCode(code) });
    await mailer.send({
      to: user.email,
      subject: 'Your gptql confirmation code',
      text: `Your confirmation code is ${code}`,
      purpose: 'confirm-sign-up',
      code,
    });
  }

  // Compared against when the email is unknown, so that "no such user" costs as much as
  // "wrong password".
  const dummyHash = argon2Hash(randomSecret());

  return {
    name: 'local',

    async signUp(email, password): Promise<SignUpResult> {
      const normalized = checkEmail(email);
      checkPassword(password);
      const user: UserRecord = {
        userId: crypto.randomUUID(),
        email: normalized,
        role: 'users',
        status: 'UNCONFIRMED',
        createdAt: new Date().toISOString(),
        passwordHash: await argon2Hash(password),
      };
      if (!(await users.create(user))) {
        // Answer as for a new account, so that sign-up cannot be used to find out who has one;
        // the owner hears about it by mail instead (what Cognito's guidance recommends).
        await mailer.send({
          to: normalized,
          subject: 'Someone tried to sign up with your email',
          text: 'Your gptql account already exists. If this was you, log in or reset your password; otherwise ignore this message.',
          purpose: 'account-exists',
        });
        return { userId: user.userId, confirmed: false };
      }
      await sendConfirmation(user);
      return { userId: user.userId, confirmed: false };
    },

    async confirmSignUp(email, code) {
      const user = await users.getByEmail(checkEmail(email));
      if (!user) throw badInput('Invalid or expired code', { argument: 'code' });
      if (user.status !== 'UNCONFIRMED') return;
      await consumeCode(user, 'confirmationCode', code);
      await users.update(user.userId, { status: 'CONFIRMED', confirmationCode: null });
    },

    async resendConfirmationCode(email) {
      const user = await users.getByEmail(checkEmail(email));
      // Silently nothing for unknown or confirmed accounts: the answer must not reveal which.
      if (user?.status === 'UNCONFIRMED') await sendConfirmation(user);
    },

    async logIn(email, password) {
      const user = await users.getByEmail(checkEmail(email));
      const valid = await argon2Verify(user?.passwordHash ?? (await dummyHash), password);
      if (!user || !valid) throw unauthenticated('Incorrect email or password');
      if (user.status === 'UNCONFIRMED') throw forbidden('Email address not confirmed');
      if (user.status === 'DISABLED') throw forbidden('Account disabled');
      const sessionId = crypto.randomUUID();
      const secret = randomSecret();
      await users.putSession({
        userId: user.userId,
        sessionId,
        secretHash: sha256(secret),
        expiresAt: Math.floor(Date.now() / 1000) + config.refreshTokenTtlSeconds,
      });
      return issueSession(user, sessionId, secret);
    },

    async refreshSession(refreshToken) {
      const invalid = unauthenticated('Invalid refresh token');
      const token = decodeRefreshToken(refreshToken);
      if (!token) throw invalid;
      const session = await users.getSession(token.userId, token.sessionId);
      if (!session || session.expiresAt < Date.now() / 1000) throw invalid;
      if (session.secretHash !== sha256(token.secret)) {
        // A rotated-out token came back: someone holds a copy. End the whole session.
        await users.deleteSession(token.userId, token.sessionId);
        throw invalid;
      }
      const user = await users.getById(token.userId);
      if (!user || user.status !== 'CONFIRMED') throw invalid;
      const secret = randomSecret();
      const rotated = await users.rotateSession(
        { ...session, secretHash: sha256(secret), expiresAt: Math.floor(Date.now() / 1000) + config.refreshTokenTtlSeconds },
        session.secretHash,
      );
      if (!rotated) throw invalid;
      return issueSession(user, session.sessionId, secret);
    },

    async logOut(accessToken) {
      const identity = await verifyAccess(accessToken);
      await users.deleteSession(identity.userId, identity.sessionId);
    },

    async forgotPassword(email) {
      const user = await users.getByEmail(checkEmail(email));
      if (!user || user.status === 'DISABLED') return; // same answer whether or not the account exists
      const code = newCode();
      await users.update(user.userId, { resetCode: pendingCode(code) });
      await mailer.send({
        to: user.email,
        subject: 'Your gptql password reset code',
        text: `Your password reset code is ${code}`,
        purpose: 'reset-password',
        code,
      });
    },

    async confirmForgotPassword(email, code, newPassword) {
      checkPassword(newPassword);
      const user = await users.getByEmail(checkEmail(email));
      if (!user) throw badInput('Invalid or expired code', { argument: 'code' });
      await consumeCode(user, 'resetCode', code);
      await users.update(user.userId, {
        passwordHash: await argon2Hash(newPassword),
        resetCode: null,
        // Receiving the code proves the email, so an unconfirmed account becomes confirmed.
        status: user.status === 'UNCONFIRMED' ? 'CONFIRMED' : user.status,
      });
      await users.deleteAllSessions(user.userId);
    },

    async verifyAccessToken(token) {
      const { sessionId: _sessionId, ...identity } = await verifyAccess(token);
      return identity;
    },

    async setUserRole(userId: string, role: Role) {
      if (!(await users.update(userId, { role }))) throw notFound('User');
    },

    async disableUser(userId) {
      if (!(await users.update(userId, { status: 'DISABLED' }))) throw notFound('User');
      await users.deleteAllSessions(userId);
    },

    async close() {},
  };

  async function verifyAccess(token: string): Promise<Identity & { sessionId: string }> {
    let payload: Awaited<ReturnType<typeof verifier.verify>>;
    try {
      payload = await verifier.verify(token);
    } catch {
      throw unauthenticated('Invalid or expired token');
    }
    if (
      typeof payload.sub !== 'string' ||
      typeof payload.username !== 'string' ||
      typeof payload.sid !== 'string' ||
      typeof payload.exp !== 'number'
    ) {
      throw new AppError(ErrorCode.UNAUTHENTICATED, 'Invalid token claims');
    }
    return {
      userId: payload.sub,
      email: payload.username,
      roles: rolesFromGroups(payload['cognito:groups']),
      expiresAt: payload.exp,
      sessionId: payload.sid,
    };
  }
}
