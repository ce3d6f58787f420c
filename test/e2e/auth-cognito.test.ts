import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConfirmForgotPasswordDocument,
  ConfirmSignUpDocument,
  ConversationsDocument,
  CreateConversationDocument,
  ForgotPasswordDocument,
  LogInDocument,
  LogOutDocument,
  MeDocument,
  RefreshSessionDocument,
  SignUpDocument,
  UsageChangedDocument,
  UsersDocument,
} from '../../src/generated/graphql.ts';
import { startCognitoLocal, type CognitoLocal } from '../support/cognito-local.ts';
import { errorCodes, startTestApp, uniqueEmail, type TestApp } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

let cognito: CognitoLocal;
let t: TestApp;
const firstAdmin = uniqueEmail('cognito-admin');

beforeAll(async () => {
  cognito = await startCognitoLocal();
  t = await startTestApp({
    COGNITO_USER_POOL_ID: cognito.userPoolId,
    COGNITO_CLIENT_ID: cognito.clientId,
    COGNITO_ENDPOINT: cognito.endpoint,
    COGNITO_ISSUER: cognito.issuer,
    ADMIN_EMAILS: firstAdmin,
  });
});
afterAll(async () => {
  await t?.stop();
  await cognito?.stop();
});

describe('cognito identity provider through the HTTP API (cognito-local)', () => {
  it('puts the accounts of ADMIN_EMAILS in the admin group at log-in, with a token that says so', async () => {
    const password = 'Cognito-admin-1';
    await t.gql(SignUpDocument, { email: firstAdmin, password });
    await t.gql(ConfirmSignUpDocument, { email: firstAdmin, code: await cognito.readLatestCode(firstAdmin) });
    for (let i = 0; i < 2; i++) {
      const session = (await t.gql(LogInDocument, { email: firstAdmin, password })).data!.logIn;
      expect((await t.gql(MeDocument, {}, session.accessToken)).data!.me.role).toBe('ADMIN');
      expect(errorCodes(await t.gql(UsersDocument, {}, session.accessToken))).toEqual([]);
    }
  });

  it('signs up, confirms, logs in, refreshes, logs out, resets the password', async () => {
    expect(t.app.services.identity.name).toBe('cognito');
    const email = uniqueEmail('cognito');
    const signUp = await t.gql(SignUpDocument, { email, password: 'Cognito-pass-1' });
    expect(signUp.data?.signUp.confirmed).toBe(false);
    expect(errorCodes(await t.gql(LogInDocument, { email, password: 'Cognito-pass-1' }))).toEqual(['FORBIDDEN']);

    const code = await cognito.readLatestCode(email);
    expect((await t.gql(ConfirmSignUpDocument, { email, code })).data?.confirmSignUp).toBe(true);
    const session = (await t.gql(LogInDocument, { email, password: 'Cognito-pass-1' })).data!.logIn;
    const me = (await t.gql(MeDocument, {}, session.accessToken)).data!.me;
    expect(me).toMatchObject({ id: signUp.data!.signUp.userId, email, role: 'USERS' });

    // The API works for a Cognito identity: its conversations are its own.
    await t.gql(CreateConversationDocument, { input: { title: 'from cognito' } }, session.accessToken);
    const list = (await t.gql(ConversationsDocument, {}, session.accessToken)).data!.conversations;
    expect(list.edges.map((e) => e.node.title)).toEqual(['from cognito']);
    expect(errorCodes(await t.gql(UsersDocument, {}, session.accessToken))).toEqual(['FORBIDDEN']);

    const refreshed = (await t.gql(RefreshSessionDocument, { refreshToken: session.refreshToken })).data!.refreshSession;
    expect((await t.gql(MeDocument, {}, refreshed.accessToken)).data?.me.email).toBe(email);

    const logOut = await t.gql(LogOutDocument, { refreshToken: refreshed.refreshToken }, refreshed.accessToken);
    expect(logOut.data?.logOut).toBe(true);
    expect(errorCodes(await t.gql(RefreshSessionDocument, { refreshToken: refreshed.refreshToken }))).toEqual(['UNAUTHENTICATED']);

    expect((await t.gql(ForgotPasswordDocument, { email })).data?.forgotPassword).toBe(true);
    const resetCode = await cognito.readLatestCode(email);
    const reset = await t.gql(ConfirmForgotPasswordDocument, { email, code: resetCode, newPassword: 'Cognito-pass-2' });
    expect(reset.data?.confirmForgotPassword).toBe(true);
    expect(errorCodes(await t.gql(LogInDocument, { email, password: 'Cognito-pass-1' }))).toEqual(['UNAUTHENTICATED']);
    expect((await t.gql(LogInDocument, { email, password: 'Cognito-pass-2' })).data?.logIn.accessToken).toBeTruthy();
  });

  it('refuses tokens signed by another issuer (the local provider) with UNAUTHENTICATED', async () => {
    const local = await startTestApp();
    try {
      const localUser = await local.newUser();
      const response = await t.gql(MeDocument, {}, localUser.accessToken);
      expect(errorCodes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.status).toBe(401);
    } finally {
      await local.stop();
    }
  });

  // Last: it stops cognito-local.
  it('answers UNAVAILABLE, not UNAUTHENTICATED, while Cognito cannot be reached', async () => {
    const email = uniqueEmail('cognito-outage');
    await t.gql(SignUpDocument, { email, password: 'Cognito-pass-1' });
    await t.gql(ConfirmSignUpDocument, { email, code: await cognito.readLatestCode(email) });
    // Logged in, its token not used yet: checking it needs Cognito (the user's email).
    const session = (await t.gql(LogInDocument, { email, password: 'Cognito-pass-1' })).data!.logIn;
    await cognito.stop();

    const response = await t.gql(MeDocument, {}, session.accessToken);
    expect(errorCodes(response)).toEqual(['UNAVAILABLE']);
    expect(response.status).toBe(503);
    // Over WebSocket: closed with 1013 (try again later), not 4403 (a bad token: sign in again).
    const client = wsClient(t.url, session.accessToken);
    const closed = await collectSubscription(client, UsageChangedDocument, {}).then(
      () => undefined,
      (error: unknown) => (error as { code?: number }).code,
    );
    await client.dispose();
    expect(closed).toBe(1013);
  });
});
