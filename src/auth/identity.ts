/**
 * The identity provider interface: the `local` provider (embedded default) and `cognito`
 * implement it, and the schema only ever talks to this.
 */
export const ROLES = ['admin', 'premium', 'users'] as const;
export type Role = (typeof ROLES)[number];

/** Tokens handed to the client after log-in or refresh. */
export interface Session {
  accessToken: string;
  idToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
}

/** What a verified access token says about its bearer. */
export interface Identity {
  /** Stable user id: the token's `sub`. */
  userId: string;
  email: string;
  /** From the token's groups claim (`cognito:groups`); a user with no group has role `users`. */
  roles: Role[];
  /** When the token expires (epoch seconds): long-lived connections end then. */
  expiresAt: number;
}

export interface SignUpResult {
  userId: string;
  /** False while the email still has to be confirmed with a code. */
  confirmed: boolean;
}

/**
 * Failures are thrown as `AppError` (src/errors.ts):
 * - wrong credentials, bad/expired/revoked token: UNAUTHENTICATED
 * - wrong/expired code (with `argument: 'code'`), weak password, malformed email: BAD_USER_INPUT
 * - signing up with an email that is already registered answers like a new sign-up (with a user
 *   id that is not the account's), so that the answer does not reveal which emails have accounts
 * - unconfirmed or disabled account at log-in: FORBIDDEN
 * - unknown user id in admin operations: NOT_FOUND
 */
export interface IdentityProvider {
  readonly name: 'local' | 'cognito';
  signUp(email: string, password: string): Promise<SignUpResult>;
  confirmSignUp(email: string, code: string): Promise<void>;
  resendConfirmationCode(email: string): Promise<void>;
  logIn(email: string, password: string): Promise<Session>;
  /** Returns new tokens; the refresh token may be the same one or a rotated one. */
  refreshSession(refreshToken: string): Promise<Session>;
  /**
   * Revokes the refresh tokens of the session the access token belongs to. Pass the session's
   * refresh token where the provider needs it to find the session: Cognito revokes one session
   * by its refresh token (RevokeToken); without it, it signs the user out everywhere.
   */
  logOut(accessToken: string, refreshToken?: string): Promise<void>;
  forgotPassword(email: string): Promise<void>;
  confirmForgotPassword(email: string, code: string, newPassword: string): Promise<void>;
  /** Verifies signature, algorithm, expiry, issuer, audience/client and token use. */
  verifyAccessToken(token: string): Promise<Identity>;
  /** Replaces the user's role group (admin, premium, users). */
  setUserRole(userId: string, role: Role): Promise<void>;
  disableUser(userId: string): Promise<void>;
  /** Releases sockets, timers, caches. */
  close(): Promise<void>;
}
