/**
 * PERSISTED_OPERATIONS: `require` runs only the manifest's operations, by hash, over HTTP and
 * WebSocket; `allow` runs documents too and registers automatic persisted queries, shared by two
 * API processes through Redis; the manifest is every client operation, hashed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fs2 from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, print, type DocumentNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as generated from '../../src/generated/graphql.ts';
import { ConversationEventsDocument, CreateConversationDocument, MeDocument, RenameConversationDocument } from '../../src/generated/graphql.ts';
import { loadManifest } from '../../src/server/persisted-operations.ts';
import { persistedHashOf } from '../../src/web/client/operations.ts';
import { errorCodes, postGraphQL, startTestApp, type TestApp } from '../support/harness.ts';
import { startGptql, startSharedDynamo, type GptqlProcess } from '../support/processes.ts';
import { deleteKeys, redisForFile } from '../support/redis-keys.ts';
import { REDIS_URL } from '../support/services.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

const redis = redisForFile();

const hashOf = (document: DocumentNode) => persistedHashOf(document)!;
const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');
const manifest = loadManifest();

describe('the manifest (schema/persisted-operations.json)', () => {
  it('lists every client operation in schema/*.graphql, each under the SHA-256 of its text', () => {
    const dir = path.resolve(import.meta.dirname, '../../schema');
    const operations = fs
      .readdirSync(dir)
      .filter((file) => file.endsWith('.graphql') && file !== 'schema.graphql')
      .flatMap((file) => parse(fs.readFileSync(path.join(dir, file), 'utf8')).definitions)
      .filter((d) => d.kind === 'OperationDefinition')
      .map((d) => d.name!.value);
    const listed = [...manifest.values()].flatMap((text) => parse(text).definitions.filter((d) => d.kind === 'OperationDefinition').map((d) => d.name!.value));
    expect(listed.sort()).toEqual(operations.sort());
    for (const [hash, text] of manifest) expect(sha256(text), hash).toBe(hash);
    // The typed documents the page and the tests use carry the same hashes.
    const documents = Object.values(generated).filter(
      (value): value is DocumentNode => typeof value === 'object' && value !== null && (value as DocumentNode).kind === 'Document' && (value as DocumentNode).definitions.some((d) => d.kind === 'OperationDefinition'),
    );
    expect(documents.map(hashOf).sort()).toEqual([...manifest.keys()].sort());
  });
});

describe('PERSISTED_OPERATIONS=require', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PERSISTED_OPERATIONS: 'require' });
  });
  afterAll(() => t?.stop());

  it('runs listed operations by hash, as documentId or as APQ’s extension, and refuses documents', async () => {
    const user = await t.newUser(); // signed up by hash: the harness sends hashes to a server in `require` mode
    const me = await postGraphQL<{ me: { id: string } }>(t.url, { documentId: hashOf(MeDocument) }, user.accessToken);
    expect(me.data?.me.id).toBe(user.id);
    const apq = await postGraphQL<{ me: { id: string } }>(t.url, { extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(MeDocument) } } }, user.accessToken);
    expect(apq.data?.me.id).toBe(user.id);

    const document = await postGraphQL(t.url, { query: print(MeDocument) }, user.accessToken);
    expect(errorCodes(document)).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(document.data ?? null).toBeNull();
    // Registering in APQ's way is a document too.
    expect(errorCodes(await postGraphQL(t.url, { query: print(MeDocument), extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(MeDocument) } } }))).toEqual(['PERSISTED_QUERY_ONLY']);
    expect(errorCodes(await postGraphQL(t.url, { documentId: 'f'.repeat(64) }, user.accessToken))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(errorCodes(await postGraphQL(t.url, { variables: {} }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
  });

  it('holds over WebSocket too: a document is refused, a hash subscribes', async () => {
    const user = await t.newUser();
    const created = await postGraphQL<{ createConversation: { id: string } }>(t.url, { documentId: hashOf(CreateConversationDocument), variables: { input: { title: 'Before' } } }, user.accessToken);
    const id = created.data!.createConversation.id;
    const client = wsClient(t.url, user.accessToken);
    const refused = (await collectSubscription(client, ConversationEventsDocument, { id }).catch((error: unknown) => error)) as { extensions?: { code?: string } }[];
    expect(refused.map((e) => e.extensions?.code)).toEqual(['PERSISTED_QUERY_ONLY']);

    const events: unknown[] = [];
    const byHash = new Promise<void>((resolve, reject) => {
      const stop = client.subscribe(
        { query: '', variables: { id }, extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(ConversationEventsDocument) } } },
        {
          next: (result) => {
            events.push(result);
            stop();
            resolve();
          },
          error: reject,
          complete: () => resolve(),
        },
      );
    });
    // Renamed until an event arrives: the subscription opens at some point after subscribe().
    const rename = () => postGraphQL(t.url, { documentId: hashOf(RenameConversationDocument), variables: { id, title: 'After' } }, user.accessToken);
    const renaming = setInterval(() => void rename(), 100);
    await rename();
    await byHash;
    clearInterval(renaming);
    await client.dispose();
    expect(events).toEqual([{ data: { conversationEvents: expect.objectContaining({ kind: 'RENAMED', conversation: expect.objectContaining({ title: 'After' }) }) } }]);
  });
});

describe('PERSISTED_OPERATIONS=allow with automatic persisted queries across two API processes', () => {
  const prefix = `gptql-test-apq-${crypto.randomUUID().slice(0, 8)}:`;
  let dataDir: string;
  let dynamo: Awaited<ReturnType<typeof startSharedDynamo>>;
  const processes: GptqlProcess[] = [];
  beforeAll(async () => {
    dataDir = await fs2.mkdtemp(path.join(os.tmpdir(), 'gptql-apq-'));
    dynamo = await startSharedDynamo();
    const env = { DATA_DIR: dataDir, DYNAMODB_ENDPOINT: dynamo.endpoint, REDIS_URL, REDIS_KEY_PREFIX: prefix, PERSISTED_OPERATIONS: 'allow' };
    processes.push(...(await Promise.all([startGptql('api', env), startGptql('api', env)])));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await dynamo?.stop();
    await deleteKeys(redis, prefix);
    await fs2.rm(dataDir, { recursive: true, force: true });
  });

  it('misses a new hash, registers it with its document, then runs the hash alone on the other process', async () => {
    const [a, b] = processes as [GptqlProcess, GptqlProcess];
    const query = `query Apq${crypto.randomUUID().replaceAll('-', '')} { __typename }`;
    const persistedQuery = { version: 1, sha256Hash: sha256(query) };

    const miss = await postGraphQL(a.url, { extensions: { persistedQuery } });
    expect(errorCodes(miss)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    expect(miss.errors?.[0]?.message).toBe('PersistedQueryNotFound');
    expect((await postGraphQL(a.url, { query, extensions: { persistedQuery } })).data).toEqual({ __typename: 'Query' });
    expect((await postGraphQL(b.url, { extensions: { persistedQuery } })).data).toEqual({ __typename: 'Query' });

    // A hash that is not the document's is refused, and registers nothing.
    const other = `query Other${crypto.randomUUID().replaceAll('-', '')} { __typename }`;
    const lie = { version: 1, sha256Hash: sha256(`${other} `) };
    expect(errorCodes(await postGraphQL(a.url, { query: other, extensions: { persistedQuery: lie } }))).toEqual(['PERSISTED_QUERY_HASH_MISMATCH']);
    expect(errorCodes(await postGraphQL(b.url, { extensions: { persistedQuery: lie } }))).toEqual(['PERSISTED_QUERY_NOT_FOUND']);

    // Documents and the manifest's hashes run as well.
    expect((await postGraphQL(b.url, { query: '{ __typename }' })).data).toEqual({ __typename: 'Query' });
    expect(errorCodes(await postGraphQL(b.url, { documentId: hashOf(MeDocument) }))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('PERSISTED_OPERATIONS=off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ PERSISTED_OPERATIONS: 'off' });
  });
  afterAll(() => t?.stop());

  it('runs documents and nothing by hash; the page is told to send documents', async () => {
    expect((await postGraphQL(t.url, { query: '{ __typename }' })).data).toEqual({ __typename: 'Query' });
    expect((await postGraphQL(t.url, { documentId: hashOf(MeDocument) })).data ?? null).toBeNull();
    expect(await (await fetch(`${t.url}/`)).text()).toContain('<meta name="gptql-persisted-operations" content="off">');
  });
});
