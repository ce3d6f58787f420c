/**
 * Production mode: unexpected failures reach the client without their message or stack, the
 * schema is not introspectable, and error messages carry no hints about it.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationsDocument } from '../../src/generated/graphql.ts';
import { errorCodes, postGraphQL, startTestApp, type TestApp } from '../support/harness.ts';

const SECRET = 'connection to 10.1.2.3:8000 refused by db-internal-7';
let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  t = await startTestApp({ NODE_ENV: 'production' }, undefined, pino({ level: 'error' }, sink));
  user = await t.newUser();
});
afterAll(() => t.stop());

describe('NODE_ENV=production', () => {
  it('answers an internal failure with INTERNAL and nothing of its message or stack', async () => {
    const { conversations } = t.app.services;
    const list = conversations.list.bind(conversations);
    conversations.list = async () => {
      throw new Error(SECRET);
    };
    try {
      const response = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
        body: JSON.stringify({ query: '{ conversations { edges { node { id } } } }' }),
      });
      const text = await response.text();
      expect(JSON.parse(text)).toEqual({
        data: null,
        errors: [{ message: 'Internal server error', locations: expect.any(Array), path: ['conversations'], extensions: { code: 'INTERNAL' } }],
      });
      expect(text).not.toMatch(/10\.1\.2\.3|db-internal|stack|\.ts:\d+/);
      // The details are in the log, for the operator.
      expect(logLines.some((line) => JSON.stringify(line).includes(SECRET))).toBe(true);
    } finally {
      conversations.list = list;
    }
    expect((await t.gql(ConversationsDocument, {}, user.accessToken)).data?.conversations.edges).toEqual([]);
  });

  it('refuses introspection and hides "Did you mean" hints', async () => {
    const introspection = await postGraphQL(t.url, { query: '{ __schema { types { name } } }' });
    expect(new Set(errorCodes(introspection))).toEqual(new Set(['BAD_USER_INPUT']));
    expect(introspection.errors![0]!.message).toMatch(/introspection/i);

    const typo = await postGraphQL(t.url, { query: '{ mee { id } }' }, user.accessToken);
    expect(errorCodes(typo)).toEqual(['BAD_USER_INPUT']);
    expect(typo.errors![0]!.message).toBe('Cannot query field "mee" on type "Query".');

    const enumTypo = await postGraphQL(t.url, {
      query: 'mutation ($role: Role!) { setUserRole(userId: "x", role: $role) { id } }',
      variables: { role: 'ADMINN' },
    });
    expect(errorCodes(enumTypo)).toEqual(['BAD_USER_INPUT']);
    expect(enumTypo.errors![0]!.message).not.toMatch(/Did you mean|ADMIN"/);
  });

  it('keeps the hints where introspection is on', async () => {
    const dev = await startTestApp();
    try {
      const typo = await postGraphQL(dev.url, { query: '{ mee { id } }' });
      expect(typo.errors![0]!.message).toMatch(/Did you mean "me"\?/);
    } finally {
      await dev.stop();
    }
  });
});
