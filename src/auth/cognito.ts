/**
 * The `cognito` identity provider: Amazon Cognito user pools (or cognito-local in tests).
 *
 * Pool requirements: email is the username attribute (`UsernameAttributes: ['email']`), the
 * app client has no secret and allows USER_PASSWORD_AUTH and REFRESH_TOKEN_AUTH, token
 * revocation is enabled on the client, and the groups `admin`, `premium`, `users` exist.
 */
import {
  AdminAddUserToGroupCommand,
  AdminDisableUserCommand,
  AdminListGroupsForUserCommand,
  AdminRemoveUserFromGroupCommand,
  CognitoIdentityProviderClient,
  ConfirmForgotPasswordCommand,
  ConfirmSignUpCommand,
  ForgotPasswordCommand,
  GetUserCommand,
  GlobalSignOutCommand,
  InitiateAuthCommand,
  ListUsersCommand,
  ResendConfirmationCodeCommand,
  RevokeTokenCommand,
  SignUpCommand,
  type AuthenticationResultType,
  type CognitoIdentityProviderClientConfig,
  type InitiateAuthCommandOutput,
} from '@aws-sdk/client-cognito-identity-provider';
import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { forbidden, notFound, unauthenticated } from '../errors.ts';
import { toAppError, type CognitoOperation, type ErrorLogger } from './cognito-errors.ts';
import { createAccessTokenVerifier } from './cognito-token.ts';
import { ROLES, type IdentityProvider, type Session } from './identity.ts';
import { checkPassword } from './policy.ts';
import { TtlCache } from './ttl-cache.ts';
import { dependencyErrorKind } from '../dependency-errors.ts';

export interface CognitoProviderOptions {
  region: string;
  userPoolId: string;
  clientId: string;
  /** Overrides the AWS endpoint, e.g. cognito-local's `http://127.0.0.1:9229`. */
  endpoint?: string;
  /**
   * Token issuer when it is not AWS-shaped (cognito-local: `http://<host>:<port>/<poolId>`).
   * Unset: tokens must come from `https://cognito-idp.<region>.amazonaws.com/<poolId>`.
   */
  issuer?: string;
  /** Defaults to `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  credentials?: CognitoIdentityProviderClientConfig['credentials'];
  logger?: ErrorLogger;
}

export function createCognitoProvider(options: CognitoProviderOptions): IdentityProvider {
  const { userPoolId, clientId } = options;
  const inPool = (username: string) => ({ UserPoolId: userPoolId, Username: username });
  const byEmail = (email: string) => ({ ClientId: clientId, Username: normalizeEmail(email) });
  const client = new CognitoIdentityProviderClient({
    region: options.region,
    endpoint: options.endpoint,
    credentials: options.credentials,
  });
  const logger = options.logger ?? pino({ name: 'auth.cognito' });
  const verifyToken = createAccessTokenVerifier(options);
  // sub → email. Emails cannot be changed through this API, so an entry only goes stale when
  // an operator edits the pool by hand; the TTL bounds that.
  const emails = new TtlCache<string, string>({ maxEntries: 10_000, ttlMs: 10 * 60_000 });

  async function call<T>(operation: CognitoOperation, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      // Cognito unreachable says nothing about the user or the token: UNAVAILABLE, not a refusal.
      // (Its 5xx answers and throttling stay Cognito's errors, mapped below.)
      const kind = dependencyErrorKind(error);
      if (kind === 'connection' || kind === 'timeout') throw error;
      throw toAppError(error, operation, logger);
    }
  }

  /** Admin APIs want a username; our user id is the immutable `sub`. */
  async function usernameOf(userId: string): Promise<string> {
    // The id goes into a filter expression: anything but a plain id cannot match a user.
    if (!/^[\w-]+$/.test(userId)) throw notFound('User');
    const { Users } = await client.send(
      new ListUsersCommand({ UserPoolId: userPoolId, Filter: `sub = "${userId}"`, Limit: 1 }),
    );
    const username = Users?.[0]?.Username;
    if (!username) throw notFound('User');
    return username;
  }

  async function groupsOf(username: string): Promise<string[]> {
    const groups: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new AdminListGroupsForUserCommand({ ...inPool(username), NextToken: nextToken }),
      );
      for (const group of page.Groups ?? []) if (group.GroupName) groups.push(group.GroupName);
      nextToken = page.NextToken;
    } while (nextToken);
    return groups;
  }

  /** Access tokens carry no email, so it is read once per user from the pool. */
  async function emailOf(userId: string, accessToken: string): Promise<string> {
    const cached = emails.get(userId);
    if (cached) return cached;
    const { UserAttributes } = await client.send(new GetUserCommand({ AccessToken: accessToken }));
    const email = UserAttributes?.find((attribute) => attribute.Name === 'email')?.Value;
    if (!email) throw unauthenticated('Invalid or expired token');
    emails.set(userId, email);
    return email;
  }

  return {
    name: 'cognito',

    signUp: (email, password) =>
      call('account', async () => {
        // The pool has its own policy; ours adds the list of common passwords it lacks.
        checkPassword(password);
        const username = normalizeEmail(email);
        try {
          const result = await client.send(
            new SignUpCommand({
              ClientId: clientId,
              Username: username,
              Password: password,
              UserAttributes: [{ Name: 'email', Value: username }],
            }),
          );
          if (!result.UserSub) throw new Error('SignUp returned no UserSub');
          return { userId: result.UserSub, confirmed: result.UserConfirmed ?? false };
        } catch (error) {
          // Cognito tells a taken username apart even with PreventUserExistenceErrors; answer as
          // for a new account so that sign-up cannot be used to find out who has one.
          if (error instanceof Error && error.name === 'UsernameExistsException') {
            return { userId: randomUUID(), confirmed: false };
          }
          throw error;
        }
      }),

    confirmSignUp: (email, code) =>
      call('account', async () => {
        await client.send(new ConfirmSignUpCommand({ ...byEmail(email), ConfirmationCode: code }));
      }),

    resendConfirmationCode: (email) =>
      call('account', () =>
        ignoreUnknownUser(client.send(new ResendConfirmationCodeCommand(byEmail(email)))),
      ),

    logIn: (email, password) =>
      call('logIn', async () => {
        const result = await client.send(
          new InitiateAuthCommand({
            ClientId: clientId,
            AuthFlow: 'USER_PASSWORD_AUTH',
            AuthParameters: { USERNAME: normalizeEmail(email), PASSWORD: password },
          }),
        );
        return toSession(result);
      }),

    refreshSession: (refreshToken) =>
      call('token', async () => {
        const result = await client.send(
          new InitiateAuthCommand({
            ClientId: clientId,
            AuthFlow: 'REFRESH_TOKEN_AUTH',
            AuthParameters: { REFRESH_TOKEN: refreshToken },
          }),
        );
        // Without refresh-token rotation Cognito returns no new refresh token: keep using ours.
        return toSession(result, refreshToken);
      }),

    logOut: (accessToken, refreshToken) =>
      call('token', async () => {
        await verifyToken(accessToken);
        if (refreshToken !== undefined) {
          // Revokes exactly this session (the refresh token and the access tokens minted
          // from it). cognito-local implements this but not GlobalSignOut.
          await client.send(new RevokeTokenCommand({ ClientId: clientId, Token: refreshToken }));
        } else {
          // Without the refresh token the only way to end the session is to end them all.
          await client.send(new GlobalSignOutCommand({ AccessToken: accessToken }));
        }
      }),

    forgotPassword: (email) =>
      call('account', () => ignoreUnknownUser(client.send(new ForgotPasswordCommand(byEmail(email))))),

    confirmForgotPassword: (email, code, newPassword) =>
      call('account', async () => {
        checkPassword(newPassword);
        await client.send(
          new ConfirmForgotPasswordCommand({
            ...byEmail(email),
            ConfirmationCode: code,
            Password: newPassword,
          }),
        );
      }),

    verifyAccessToken: (token) =>
      call('token', async () => {
        const { sub, roles, exp } = await verifyToken(token);
        return { userId: sub, email: await emailOf(sub, token), roles, expiresAt: exp };
      }),

    setUserRole: (userId, role) =>
      call('admin', async () => {
        const username = await usernameOf(userId);
        const current = await groupsOf(username);
        // Remove before adding: if we fail half-way the user is left with fewer rights, not more.
        for (const group of current) {
          if (group !== role && (ROLES as readonly string[]).includes(group)) {
            await client.send(new AdminRemoveUserFromGroupCommand({ ...inPool(username), GroupName: group }));
          }
        }
        if (!current.includes(role)) {
          await client.send(new AdminAddUserToGroupCommand({ ...inPool(username), GroupName: role }));
        }
      }),

    disableUser: (userId) =>
      call('admin', async () => {
        const username = await usernameOf(userId);
        await client.send(new AdminDisableUserCommand(inPool(username)));
      }),

    async close() {
      client.destroy();
    },
  };
}

/** Cognito compares usernames exactly; users type their email in any case. */
function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Flows started by email must not reveal whether an account exists. */
async function ignoreUnknownUser(request: Promise<unknown>): Promise<void> {
  try {
    await request;
  } catch (error) {
    if (error instanceof Error && error.name === 'UserNotFoundException') return;
    throw error;
  }
}

function toSession(result: InitiateAuthCommandOutput, currentRefreshToken?: string): Session {
  if (result.ChallengeName) {
    // MFA, NEW_PASSWORD_REQUIRED (admin-created users) and friends need an API we don't offer.
    throw forbidden(`Sign-in step ${result.ChallengeName} is not supported`);
  }
  const tokens: AuthenticationResultType = result.AuthenticationResult ?? {};
  const refreshToken = tokens.RefreshToken ?? currentRefreshToken;
  if (!tokens.AccessToken || !tokens.IdToken || !refreshToken) {
    throw new Error('InitiateAuth returned no tokens');
  }
  return {
    accessToken: tokens.AccessToken,
    idToken: tokens.IdToken,
    refreshToken,
    // cognito-local leaves ExpiresIn out; the token's own expiry is the same fact.
    expiresIn: tokens.ExpiresIn ?? secondsUntilExpiry(tokens.AccessToken),
  };
}

function secondsUntilExpiry(jwt: string): number {
  const { exp } = decodeJwt(jwt);
  return exp === undefined ? 0 : Math.max(0, exp - Math.floor(Date.now() / 1000));
}
