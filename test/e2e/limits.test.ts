/**
 * Hostile documents and requests over HTTP: refused before anything executes, with a contract
 * code; and the HTTP protections (body size, CSRF, CORS, security headers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationsDocument } from '../../src/generated/graphql.ts';
import { upload } from '../support/files-helpers.ts';
import { errorCodes, postGraphQL, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp({ CORS_ORIGINS: 'https://app.example.com, https://admin.example.com', GRAPHQL_MAX_BATCH: '3' });
  user = await t.newUser();
});
afterAll(() => t.stop());

const conversationCount = async () => (await t.gql(ConversationsDocument, { first: 100 }, user.accessToken)).data!.conversations.edges.length;

/** `{ id }` wrapped in `levels` inline fragments: valid GraphQL that is `levels` deep. */
function nested(levels: number): string {
  return `${'... on Conversation { '.repeat(levels)}id${' }'.repeat(levels)}`;
}

describe('document limits', () => {
  it('refuses a depth-20 mutation before it runs', async () => {
    const before = await conversationCount();
    const deep = await postGraphQL(t.url, { query: `mutation { createConversation(input: { title: "deep" }) { ${nested(20)} } }` }, user.accessToken);
    expect(new Set(errorCodes(deep))).toEqual(new Set(['BAD_USER_INPUT']));
    expect(deep.errors!.map((e) => e.message).join()).toMatch(/depth limit of 10/);
    expect(deep.data ?? null).toBeNull();
    expect(await conversationCount()).toBe(before);
    // The same shape within the limit runs.
    const shallow = await postGraphQL<{ createConversation: { id: string } }>(
      t.url,
      { query: `mutation { createConversation(input: { title: "shallow" }) { ${nested(5)} } }` },
      user.accessToken,
    );
    expect(shallow.data?.createConversation.id).toBeTruthy();
  });

  it('refuses an alias bomb before it runs', async () => {
    const before = await conversationCount();
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: createConversation { id }`).join(' ');
    const bomb = await postGraphQL(t.url, { query: `mutation { ${aliases} }` }, user.accessToken);
    expect(errorCodes(bomb)).toContain('BAD_USER_INPUT');
    expect(bomb.errors!.map((e) => e.message).join()).toMatch(/Aliases limit of 15/);
    expect(await conversationCount()).toBe(before);
  });

  it('refuses too many tokens, directives and too much cost', async () => {
    const tokens = await postGraphQL(t.url, { query: `{ ${'__typename '.repeat(2000)} }` });
    expect(errorCodes(tokens)).toEqual(['BAD_USER_INPUT']);
    expect(tokens.errors![0]!.message).toMatch(/Token limit of 1000/);

    const directives = await postGraphQL(t.url, { query: `{ __typename ${'@include(if: true) '.repeat(30)} }` });
    expect(errorCodes(directives)).toContain('BAD_USER_INPUT');
    expect(directives.errors!.map((e) => e.message).join()).toMatch(/Directives limit of 20/);

    const fields = 'id title systemPrompt createdAt updatedAt';
    const costly = `{ ${Array.from({ length: 14 }, (_, i) => `c${i}: conversations(first: 100) { edges { node { ${fields} messages(first: 100) { edges { node { id content role createdAt } } } } } }`).join(' ')} }`;
    const cost = await postGraphQL(t.url, { query: costly }, user.accessToken);
    expect(errorCodes(cost)).toContain('BAD_USER_INPUT');
    expect(cost.errors!.map((e) => e.message).join()).toMatch(/Query Cost limit of 5000/);
  });

  it('limits batched requests', async () => {
    const three = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(await three.json()).toEqual([1, 2, 3].map(() => ({ data: { __typename: 'Query' } })));
    const four = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(Array.from({ length: 4 }, () => ({ query: '{ __typename }' }))),
    });
    expect(four.status).toBeGreaterThanOrEqual(400);
    expect(errorCodes((await four.json()) as { errors: [] })).toEqual(['BAD_USER_INPUT']);
  });

  it('answers a subscription in a batch with an error, the other operations as usual', async () => {
    // Yoga started the subscription and answered `{}` for it, leaving it subscribed.
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: 'subscription { usageChanged { day { totalTokens } } }' }]),
    });
    const results = (await response.json()) as { data?: unknown; errors?: { extensions: { code: string } }[] }[];
    expect(results.map((r) => r.data ?? r.errors?.map((e) => e.extensions.code))).toEqual([{ __typename: 'Query' }, ['BAD_USER_INPUT']]);
  });
});

describe('HTTP protections', () => {
  it('refuses a 10 MB body with 413 without reading it', async () => {
    const response = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', variables: { padding: 'x'.repeat(10 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
    expect(errorCodes((await response.json()) as { errors: [] })).toEqual(['BAD_USER_INPUT']);
  });

  it('lets UPLOAD_MAX_BYTES alone decide how large an upload may be: yoga adds no 25 MB cap', async () => {
    const big = await startTestApp({ UPLOAD_MAX_BYTES: String(32 * 1024 * 1024) });
    try {
      const owner = await big.newUser();
      const bytes = Buffer.alloc(26 * 1024 * 1024, 'all work and no play. ');
      const response = await upload(big, owner.accessToken, bytes, 'long.txt', 'text/plain');
      expect(response.errors).toBeUndefined();
      expect(response.data?.uploadFile.size).toBe(bytes.length);
    } finally {
      await big.stop();
    }
  });

  it('refuses a chunked body that does not declare its length', async () => {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(JSON.stringify({ query: '{ __typename }' })));
        controller.close();
      },
    });
    const response = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(411);
  });

  it('needs a CSRF header for form and text POSTs, not for JSON', async () => {
    const form = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=mutation%7BforgotPassword(email%3A%22a%40example.com%22)%7D',
    });
    expect(form.status).toBe(403);
    expect(errorCodes((await form.json()) as { errors: [] })).toEqual(['BAD_USER_INPUT']);
    const withHeader = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-csrf': '1' },
      body: 'query=%7B__typename%7D',
    });
    expect(await withHeader.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('allows listed origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${t.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const allowed = await preflight('https://admin.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const other = await preflight('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example.com');

    const unlisted = await startTestApp();
    try {
      const response = await fetch(`${unlisted.url}/graphql`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await unlisted.stop();
    }
  });

  it('sends security headers on every response', async () => {
    for (const response of [
      await fetch(`${t.url}/graphql?query=%7B__typename%7D`),
      await fetch(`${t.url}/health`),
      await fetch(`${t.url}/metrics`),
    ]) {
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(response.headers.get('strict-transport-security')).toBeNull(); // plain HTTP here
    }
  });
});
