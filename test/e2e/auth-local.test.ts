import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxDir } from '../../src/auth/mailer.ts';
import {
  ConfirmForgotPasswordDocument,
  ConfirmSignUpDocument,
  ForgotPasswordDocument,
  LogInDocument,
  LogOutDocument,
  MeDocument,
  RefreshSessionDocument,
  ResendConfirmationCodeDocument,
  SignUpDocument,
  UsersDocument,
} from '../../src/generated/graphql.ts';
import { errorCodes, startTestApp, uniqueEmail, type TestApp } from '../support/harness.ts';

let t: TestApp;
const firstAdmin = uniqueEmail('first-admin');
beforeAll(async () => {
  // Written as an operator might; the account signs up in lower case.
  t = await startTestApp({ ADMIN_EMAILS: `someone-else@example.com, ${firstAdmin.toUpperCase()}` });
});
afterAll(() => t.stop());

describe('local identity provider through the HTTP API', () => {
  it('makes the accounts of ADMIN_EMAILS administrators at log-in, and no other', async () => {
    const password = 'admin-pass-1';
    const roleAfterLogIn = async (email: string) => {
      const session = (await t.gql(LogInDocument, { email, password })).data!.logIn;
      return { role: (await t.gql(MeDocument, {}, session.accessToken)).data!.me.role, users: errorCodes(await t.gql(UsersDocument, {}, session.accessToken)) };
    };
    const other = uniqueEmail('not-admin');
    for (const email of [firstAdmin, other]) {
      await t.gql(SignUpDocument, { email, password });
      await t.gql(ConfirmSignUpDocument, { email, code: await t.readCode(email, 'confirm-sign-up') });
    }
    expect(await roleAfterLogIn(firstAdmin)).toEqual({ role: 'ADMIN', users: [] });
    // Already an administrator: the next log-in keeps the role.
    expect(await roleAfterLogIn(firstAdmin)).toEqual({ role: 'ADMIN', users: [] });
    expect(await roleAfterLogIn(other)).toEqual({ role: 'USERS', users: ['FORBIDDEN'] });
  });

  it('signs up, confirms with the outbox code, logs in, refreshes, logs out', async () => {
    const email = uniqueEmail('flow');
    const password = 'first-pass-1';
    const signUp = await t.gql(SignUpDocument, { email, password });
    expect(signUp.data?.signUp.confirmed).toBe(false);

    // Unconfirmed: refused.
    expect(errorCodes(await t.gql(LogInDocument, { email, password }))).toEqual(['FORBIDDEN']);
    // A wrong code is refused and does not confirm.
    const code = await t.readCode(email, 'confirm-sign-up');
    const wrong = code === '000000' ? '111111' : '000000';
    expect(errorCodes(await t.gql(ConfirmSignUpDocument, { email, code: wrong }))).toEqual(['BAD_USER_INPUT']);
    // Resending issues a fresh code; the newest one confirms.
    await t.gql(ResendConfirmationCodeDocument, { email });
    const fresh = await t.readCode(email, 'confirm-sign-up');
    expect((await t.gql(ConfirmSignUpDocument, { email, code: fresh })).data?.confirmSignUp).toBe(true);

    const logIn = await t.gql(LogInDocument, { email, password });
    const session = logIn.data!.logIn;
    expect(session.tokenType).toBe('Bearer');
    const me = await t.gql(MeDocument, {}, session.accessToken);
    expect(me.data?.me).toMatchObject({ email, role: 'USERS', status: 'CONFIRMED', id: signUp.data!.signUp.userId });

    const refreshed = await t.gql(RefreshSessionDocument, { refreshToken: session.refreshToken });
    const next = refreshed.data!.refreshSession;
    expect((await t.gql(MeDocument, {}, next.accessToken)).data?.me.email).toBe(email);
    // Rotation: the old refresh token is spent; presenting it again ends the session.
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: session.refreshToken }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: next.refreshToken }))).toEqual(['UNAUTHENTICATED']);

    const again = (await t.gql(LogInDocument, { email, password })).data!.logIn;
    expect((await t.gql(LogOutDocument, {}, again.accessToken)).data?.logOut).toBe(true);
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: again.refreshToken }))).toEqual(['UNAUTHENTICATED']);
  });

  it('resets a forgotten password with the emailed code', async () => {
    const user = await t.newUser(uniqueEmail('reset'), 'old-password-1');
    expect((await t.gql(ForgotPasswordDocument, { email: user.email })).data?.forgotPassword).toBe(true);
    const code = await t.readCode(user.email, 'reset-password');
    const reset = await t.gql(ConfirmForgotPasswordDocument, { email: user.email, code, newPassword: 'new-password-2' });
    expect(reset.data?.confirmForgotPassword).toBe(true);
    expect(errorCodes(await t.gql(LogInDocument, { email: user.email, password: 'old-password-1' }))).toEqual(['UNAUTHENTICATED']);
    expect((await t.gql(LogInDocument, { email: user.email, password: 'new-password-2' })).data?.logIn.accessToken).toBeTruthy();
    // Sessions from before the reset are gone.
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: user.refreshToken }))).toEqual(['UNAUTHENTICATED']);
    // The code is single use.
    expect(errorCodes(await t.gql(ConfirmForgotPasswordDocument, { email: user.email, code, newPassword: 'third-pass-3' }))).toEqual([
      'BAD_USER_INPUT',
    ]);
  });

  it('answers forgotPassword the same for unknown emails and refuses bad input clearly', async () => {
    expect((await t.gql(ForgotPasswordDocument, { email: uniqueEmail('nobody') })).data?.forgotPassword).toBe(true);
    expect(errorCodes(await t.gql(SignUpDocument, { email: 'not-an-email', password: 'valid-pass-1' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(SignUpDocument, { email: uniqueEmail(), password: 'short1' }))).toEqual(['BAD_USER_INPUT']);
    const user = await t.newUser();
    // A taken email is answered like a new one (a user id that is not the account's); the owner gets a mail.
    const taken = await t.gql(SignUpDocument, { email: user.email, password: 'another-pass-1' });
    expect(taken.data?.signUp).toEqual({ userId: expect.any(String), confirmed: false });
    expect(taken.data?.signUp.userId).not.toBe(user.userId);
    const outbox = await fs.readdir(outboxDir(t.dataDir));
    const mails = await Promise.all(outbox.map(async (name) => JSON.parse(await fs.readFile(path.join(outboxDir(t.dataDir), name), 'utf8')) as { to: string; purpose: string }));
    expect(mails).toContainEqual(expect.objectContaining({ to: user.email, purpose: 'account-exists' }));
    expect(errorCodes(await t.gql(SignUpDocument, { email: uniqueEmail(), password: 'Password1' }))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(LogInDocument, { email: user.email, password: 'wrong-pass-1' }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(LogInDocument, { email: uniqueEmail('ghost'), password: 'wrong-pass-1' }))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: 'garbage' }))).toEqual(['UNAUTHENTICATED']);
  });

  it('locks a code after repeated wrong guesses', async () => {
    const email = uniqueEmail('guess');
    await t.gql(SignUpDocument, { email, password: 'guess-pass-1' });
    const code = await t.readCode(email, 'confirm-sign-up');
    const wrong = code === '123456' ? '654321' : '123456';
    for (let i = 0; i < 5; i++) await t.gql(ConfirmSignUpDocument, { email, code: wrong });
    expect(errorCodes(await t.gql(ConfirmSignUpDocument, { email, code }))).toEqual(['BAD_USER_INPUT']);
  });
});
