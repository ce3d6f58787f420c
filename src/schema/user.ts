import { decodeJwt } from 'jose';
import { ROLES, type Role } from '../auth/identity.ts';
import type { AuthenticatedContext, Context } from '../context.ts';
import { AppError, ErrorCode, notFound } from '../errors.ts';
import { actor } from '../observability/audit.ts';
import { UserRepository, type UserRecord } from '../store/users.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { globalId, rawId } from './global-id.ts';
import { NodeRef } from './node.ts';

export const RoleEnum = builder.enumType('Role', {
  description: 'What an account may do: `USERS` chat, `PREMIUM` chat with higher limits, `ADMIN` also manages users and reads reports.',
  values: Object.fromEntries(ROLES.map((role) => [role.toUpperCase(), { value: role }])) as Record<
    Uppercase<Role>,
    { value: Role }
  >,
});

const UserStatusEnum = builder.enumType('UserStatus', {
  description: 'Where an account stands: waiting for its emailed code, in use, or disabled by an admin.',
  values: ['UNCONFIRMED', 'CONFIRMED', 'DISABLED'] as const,
});

export const UserRef = builder.objectRef<UserRecord>('User').implement({
  interfaces: [NodeRef],
  description: 'An account.',
  fields: (t) => ({
    id: t.id({ description: 'The account’s global id.', resolve: (u) => globalId('User', u.userId) }),
    email: t.exposeString('email', { description: 'The address it signs in with.' }),
    role: t.field({ type: RoleEnum, description: 'What it may do.', resolve: (user) => user.role }),
    status: t.field({ type: UserStatusEnum, description: 'Confirmed, waiting for confirmation, or disabled.', resolve: (user) => user.status }),
    createdAt: t.field({ type: 'DateTime', description: 'When it signed up.', resolve: (user) => user.createdAt }),
  }),
});

const UserConnection = builder.connectionObject({ type: UserRef, name: 'UserConnection', description: 'A page of users.' }, { description: 'A user in a page, with its cursor.' });

const SessionRef = builder
  .objectRef<{ accessToken: string; idToken: string; refreshToken: string; expiresIn: number }>('AuthSession')
  .implement({
    description: 'Tokens for the client. Send `Authorization: Bearer <accessToken>`.',
    fields: (t) => ({
      accessToken: t.exposeString('accessToken', { description: 'Send it as `Authorization: Bearer …` (or in `connection_init` over WebSocket).' }),
      idToken: t.exposeString('idToken', { description: 'OpenID Connect ID token: who signed in.' }),
      refreshToken: t.exposeString('refreshToken', { description: 'What `refreshSession` takes for new tokens; `logOut` revokes it.' }),
      expiresIn: t.exposeInt('expiresIn', { description: 'Seconds until the access token expires.' }),
      tokenType: t.string({ description: 'Always `Bearer`.', resolve: () => 'Bearer' }),
    }),
  });

const SignUpResultRef = builder.objectRef<{ userId: string; confirmed: boolean }>('SignUpResult').implement({
  description: 'A new account, to be confirmed with the emailed code.',
  fields: (t) => ({
    userId: t.id({ description: 'The new account’s global id.', resolve: (r) => globalId('User', r.userId) }),
    confirmed: t.exposeBoolean('confirmed', { description: 'False until the emailed code is confirmed.' }),
  }),
});

/** The requesting user's profile; created on first sight for externally managed identities. */
export async function currentUser(context: AuthenticatedContext): Promise<UserRecord> {
  const identity = context.identity;
  const user = await context.loaders.user.load(identity.userId);
  if (user) return user;
  return context.services.users.ensure({
    userId: identity.userId,
    email: identity.email,
    role: identity.roles[0] ?? 'users',
    status: 'CONFIRMED',
    createdAt: new Date().toISOString(),
  });
}

/** Runs an auth mutation as one attempt from the client's address (AUTH_RATE_LIMIT_PER_IP). */
async function attempt<T>(context: Context, run: () => Promise<T>): Promise<T> {
  await context.services.authLimiter.attempt(context.clientIp);
  return run();
}

/**
 * A sign-in, under the per-account lock-out as well; audited either way. Only a wrong password
 * counts as a failure: a refused unconfirmed or disabled account already proved its password.
 */
async function signIn(context: Context, email: string, password: string) {
  const { authLimiter, identity, audit } = context.services;
  try {
    await authLimiter.attempt(context.clientIp, email);
  } catch (error) {
    audit('auth.sign_in_locked', { ...actor(context), email });
    throw error;
  }
  try {
    const session = await identity.logIn(email, password);
    await authLimiter.succeeded(email);
    audit('auth.sign_in', { ...actor(context), userId: decodeJwt(session.accessToken).sub });
    return session;
  } catch (error) {
    if (error instanceof AppError && error.code === ErrorCode.UNAUTHENTICATED) await authLimiter.failed(email);
    audit('auth.sign_in_failed', { ...actor(context), email, code: error instanceof AppError ? error.code : ErrorCode.INTERNAL });
    throw error;
  }
}

builder.queryFields((t) => ({
  me: t.withAuth({ authenticated: true }).field({
    type: UserRef,
    description: 'Your account.',
    resolve: (_root, _args, context) => currentUser(context),
  }),
  users: t.withAuth({ admin: true }).field({
    type: UserConnection,
    description: 'Every user, newest first. Admins only.',
    args: pageArgs,
    resolve: async (_root, args, context) =>
      toConnection(await context.services.users.list(args), UserRepository.cursorOf, args.after),
  }),
}));

builder.mutationFields((t) => ({
  signUp: t.field({
    type: SignUpResultRef,
    description: 'Makes an account and emails a code to confirm it with.',
    args: { email: t.arg.string({ required: true }), password: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => attempt(context, () => context.services.identity.signUp(args.email, args.password)),
  }),
  confirmSignUp: t.boolean({
    description: 'Confirms an account with its emailed code; then `logIn` works.',
    args: { email: t.arg.string({ required: true }), code: t.arg.string({ required: true }) },
    resolve: (_root, args, context) =>
      attempt(context, async () => {
        await context.services.identity.confirmSignUp(args.email, args.code);
        return true;
      }),
  }),
  resendConfirmationCode: t.boolean({
    description: 'Emails a new code to confirm an account with.',
    args: { email: t.arg.string({ required: true }) },
    resolve: (_root, args, context) =>
      attempt(context, async () => {
        await context.services.identity.resendConfirmationCode(args.email);
        return true;
      }),
  }),
  logIn: t.field({
    type: SessionRef,
    description: 'Signs in with email and password: tokens for the client.',
    args: { email: t.arg.string({ required: true }), password: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => signIn(context, args.email, args.password),
  }),
  refreshSession: t.field({
    type: SessionRef,
    description: 'New tokens for a refresh token that is still valid.',
    args: { refreshToken: t.arg.string({ required: true }) },
    resolve: (_root, args, context) => attempt(context, () => context.services.identity.refreshSession(args.refreshToken)),
  }),
  logOut: t.withAuth({ authenticated: true }).boolean({
    description:
      'Revokes the refresh token of the current session. Pass it: with Cognito, a log-out without it signs the user out everywhere.',
    args: { refreshToken: t.arg.string({ required: false }) },
    resolve: async (_root, args, context) => {
      await context.services.identity.logOut(context.accessToken, args.refreshToken ?? undefined);
      return true;
    },
  }),
  forgotPassword: t.boolean({
    description: 'Sends a reset code if the account exists; answers the same either way.',
    args: { email: t.arg.string({ required: true }) },
    resolve: (_root, args, context) =>
      attempt(context, async () => {
        await context.services.identity.forgotPassword(args.email);
        return true;
      }),
  }),
  confirmForgotPassword: t.boolean({
    description: 'Sets a new password with the code `forgotPassword` emailed.',
    args: {
      email: t.arg.string({ required: true }),
      code: t.arg.string({ required: true }),
      newPassword: t.arg.string({ required: true }),
    },
    resolve: (_root, args, context) =>
      attempt(context, async () => {
        await context.services.identity.confirmForgotPassword(args.email, args.code, args.newPassword);
        return true;
      }),
  }),
  setUserRole: t.withAuth({ admin: true }).field({
    type: UserRef,
    description: 'Admins only. Takes effect in the user’s next tokens.',
    args: { userId: t.arg.id({ required: true }), role: t.arg({ type: RoleEnum, required: true }) },
    resolve: async (_root, args, context) => {
      const userId = rawId('User', args.userId);
      await context.services.identity.setUserRole(userId, args.role);
      await context.services.users.update(userId, { role: args.role });
      context.services.audit('user.role_changed', { ...actor(context), targetUserId: userId, role: args.role });
      const user = await context.services.users.getById(userId);
      if (!user) throw notFound('User');
      return user;
    },
  }),
  disableUser: t.withAuth({ admin: true }).field({
    type: UserRef,
    description: 'Admins only. The user can no longer log in or refresh.',
    args: { userId: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const userId = rawId('User', args.userId);
      await context.services.identity.disableUser(userId);
      await context.services.users.update(userId, { status: 'DISABLED' });
      context.services.audit('user.disabled', { ...actor(context), targetUserId: userId });
      const user = await context.services.users.getById(userId);
      if (!user) throw notFound('User');
      return user;
    },
  }),
}));
