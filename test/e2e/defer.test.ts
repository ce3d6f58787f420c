/**
 * @defer behind GRAPHQL_DEFER (the incremental delivery spec is not final): on, a conversation's
 * header comes first and its messages follow in the same multipart response; off (the default),
 * the directive is unknown. The graphql-http audits run with it on as well
 * (graphql-over-http.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateConversationDocument } from '../../src/generated/graphql.ts';
import { rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';

const QUERY = `query Deferred($id: ID!) {
  conversation(id: $id) {
    title
    ... @defer(label: "messages") { messages(first: 10) { edges { node { content } } } }
  }
}`;

async function ask(t: TestApp, token: string, id: string) {
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'multipart/mixed', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: QUERY, variables: { id } }),
  });
  return { type: response.headers.get('content-type') ?? '', body: await response.text() };
}

describe.each([true, false])('GRAPHQL_DEFER=%s', (on) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ GRAPHQL_DEFER: String(on) });
  });
  afterAll(() => t?.stop());

  it(on ? 'sends the header first and the deferred messages after it, in one response' : 'does not know @defer', async () => {
    const user = await t.newUser();
    const id = (await t.gql(CreateConversationDocument, { input: { title: 'Deferred' } }, user.accessToken)).data!.createConversation.id;
    await t.app.services.messages.add({ conversationId: rawIdOf(id), userId: user.userId, role: 'user', content: 'later part' });
    const { type, body } = await ask(t, user.accessToken, id);
    expect(type).toMatch(/^multipart\/mixed/);
    const parts = [...body.matchAll(/\r\n\r\n(\{.*\})\r\n/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
    if (!on) {
      expect(parts).toEqual([{ errors: [expect.objectContaining({ message: 'Unknown directive "@defer".', extensions: { code: 'BAD_USER_INPUT', reason: 'GRAPHQL_VALIDATION_FAILED' } })] }]);
      return;
    }
    expect(parts[0]).toEqual({ data: { conversation: { title: 'Deferred' } }, hasNext: true });
    expect(parts.at(-1)).toMatchObject({ hasNext: false });
    expect(JSON.stringify(parts.slice(1))).toContain('later part');
    expect(JSON.stringify(parts[0])).not.toContain('later part');
  });
});
