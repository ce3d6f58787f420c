/**
 * API keys with the official OpenAI SDK as the client of `/v1`: a key lists the models, and a
 * wrong, revoked or expired key is the SDK's AuthenticationError. Keys are stored hashed and are
 * refused by GraphQL, so a key cannot make keys or change the password.
 */
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeysDocument, CreateApiKeyDocument, MeDocument, RevokeApiKeyDocument } from '../../src/generated/graphql.ts';
import { errorCodes, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all' });
  user = await t.newUser();
});
afterAll(() => t.stop());

const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${t.url}/v1`, maxRetries: 0 });
const create = async (name: string, expiresAt?: string) => (await t.gql(CreateApiKeyDocument, { name, expiresAt }, user.accessToken)).data!.createApiKey;

describe('API keys', () => {
  it('lets the SDK list the models with a key, shown once and stored only as a hash', async () => {
    const { key, apiKey } = await create('laptop');
    expect(key).toMatch(/^gq_[0-9A-Za-z]{40,50}$/);
    expect(apiKey).toMatchObject({ name: 'laptop', prefix: key.slice(0, 8), expiresAt: null, lastUsedAt: null });
    const models = await client(key).models.list();
    expect(models.data.map((m) => m.id)).toEqual(['default']);
    expect(models.data[0]).toMatchObject({ object: 'model', owned_by: 'gptql' });
    const listed = (await t.gql(ApiKeysDocument, {}, user.accessToken)).data!.apiKeys;
    expect(listed.map((k) => k.id)).toContain(apiKey.id);
    expect(listed.find((k) => k.id === apiKey.id)!.lastUsedAt).not.toBeNull();
    // No item in the users table holds the secret (this Scan is the test's, on its own database).
    const { Items = [] } = await t.infra.dynamo.doc.send(new ScanCommand({ TableName: t.infra.dynamo.tables.users }));
    expect(JSON.stringify(Items)).not.toContain(key);
    expect(JSON.stringify(Items)).not.toContain(key.slice(3));
  });

  it('refuses wrong, revoked and expired keys with the SDK’s AuthenticationError', async () => {
    await expect(client('gq_wrong').models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(client(`gq_${'A'.repeat(43)}`).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(client(user.accessToken).models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });

    const { key, apiKey } = await create('to revoke');
    await client(key).models.list();
    expect((await t.gql(RevokeApiKeyDocument, { id: apiKey.id }, user.accessToken)).data!.revokeApiKey).toBe(apiKey.id);
    await expect(client(key).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    const soon = await create('short-lived', new Date(Date.now() + 1500).toISOString());
    await client(soon.key).models.list();
    await new Promise((resolve) => setTimeout(resolve, 1600));
    await expect(client(soon.key).models.list()).rejects.toMatchObject({ status: 401, message: expect.stringContaining('expired') });
  });

  it('is refused by GraphQL: a key cannot make keys, or act as its user there', async () => {
    const { key } = await create('not for graphql');
    expect(errorCodes(await t.gql(MeDocument, {}, key))).toEqual(['UNAUTHENTICATED']);
    expect(errorCodes(await t.gql(CreateApiKeyDocument, { name: 'escalate' }, key))).toEqual(['UNAUTHENTICATED']);
  });

  it('refuses bad names and expiry, and another user’s key', async () => {
    expect(errorCodes(await t.gql(CreateApiKeyDocument, { name: ' ' }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(CreateApiKeyDocument, { name: 'x', expiresAt: '2020-01-01T00:00:00Z' }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    const { apiKey, key } = await create('mine');
    const other = await t.newUser();
    expect(errorCodes(await t.gql(RevokeApiKeyDocument, { id: apiKey.id }, other.accessToken))).toEqual(['NOT_FOUND']);
    await client(key).models.list();
  });
});
