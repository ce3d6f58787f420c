/**
 * Relay object identification: every object with an identity implements `Node` with a global id
 * that says its type; `node(id)` refetches each type, `nodes(ids)` several at once; another
 * user's ids and ids that name nothing are NOT_FOUND at their path. Id arguments take global ids
 * and, for clients that kept them, bare ones; an id of the wrong type is NOT_FOUND.
 */
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConversationDocument,
  CreateApiKeyDocument,
  CreateConversationDocument,
  CreateFolderDocument,
  SendMessageDocument,
  ShareConversationDocument,
} from '../../src/generated/graphql.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';
import { upload } from '../support/files-helpers.ts';

let t: TestApp;
let alice: Awaited<ReturnType<TestApp['newUser']>>;
let bob: Awaited<ReturnType<TestApp['newUser']>>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob] = [await t.newUser(), await t.newUser()];
  ids.Conversation = (await t.gql(CreateConversationDocument, { input: { title: 'Node me' } }, alice.accessToken)).data!.createConversation.id;
  const sent = (await t.gql(SendMessageDocument, { input: { conversationId: ids.Conversation, content: 'Hello' } }, alice.accessToken)).data!.sendMessage;
  ids.Generation = sent.id;
  ids.Message = sent.userMessage!.id;
  ids.StoredFile = (await upload(t, alice.accessToken, Buffer.from('notes'), 'notes.txt')).data!.uploadFile.id;
  ids.User = alice.id;
  ids.Folder = (await t.gql(CreateFolderDocument, { name: 'Work' }, alice.accessToken)).data!.createFolder.id;
  ids.Share = (await t.gql(ShareConversationDocument, { id: ids.Conversation }, alice.accessToken)).data!.shareConversation.id;
  ids.ApiKey = (await t.gql(CreateApiKeyDocument, { name: 'k' }, alice.accessToken)).data!.createApiKey.apiKey.id;
});
afterAll(() => t?.stop());

const NODE = parse(`query Node($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Conversation { title }
    ... on Message { content }
    ... on StoredFile { name }
    ... on User { email }
    ... on Folder { name }
    ... on Share { title }
    ... on ApiKey { name }
    ... on Generation { status }
  }
}`) as TypedDocumentNode<{ node: ({ __typename: string; id: string } & Record<string, unknown>) | null }, { id: string }>;
const NODES = parse('query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }') as TypedDocumentNode<{ nodes: ({ __typename: string; id: string } | null)[] }, { ids: string[] }>;

describe('Relay Node', () => {
  it('refetches every type by its global id', async () => {
    const expected: Record<string, Record<string, unknown>> = {
      Conversation: { title: 'Node me' },
      Message: { content: 'Hello' },
      StoredFile: { name: 'notes.txt' },
      User: { email: alice.email },
      Folder: { name: 'Work' },
      Share: { title: 'Node me' },
      ApiKey: { name: 'k' },
      Generation: { status: expect.any(String) },
    };
    for (const [type, id] of Object.entries(ids)) {
      const result = await t.gql(NODE, { id }, alice.accessToken);
      expect(result.errors, type).toBeUndefined();
      expect(result.data!.node, type).toEqual({ __typename: type, id, ...expected[type] });
      // The id says its type, and every type's ids differ from the bare ones.
      expect(Buffer.from(id, 'base64').toString()).toBe(`${type}:${rawIdOf(id)}`);
    }
  });

  it('gives null and NOT_FOUND for another user’s ids and for ids that name nothing', async () => {
    for (const id of [...Object.values(ids).filter((id) => id !== alice.id), 'not-an-id', Buffer.from('Conversation:01ARZ3NDEKTSV4RRFFQ69G5FAV').toString('base64'), Buffer.from('Nope:1').toString('base64')]) {
      const result = await t.gql(NODE, { id }, bob.accessToken);
      expect(result.data, id).toEqual({ node: null });
      expect(result.errors?.map((e) => [e.extensions?.code, e.path]), id).toEqual([['NOT_FOUND', ['node']]]);
    }
    // A user is a node to itself (and to admins) only.
    expect(errorCodes(await t.gql(NODE, { id: alice.id }, bob.accessToken))).toEqual(['NOT_FOUND']);
  });

  it('resolves the others in `nodes` when some are not found', async () => {
    const result = await t.gql(NODES, { ids: [ids.Conversation!, 'nope', ids.StoredFile!] }, bob.accessToken);
    expect(result.data!.nodes).toEqual([null, null, null]);
    const mine = await t.gql(NODES, { ids: [ids.Conversation!, 'nope', ids.StoredFile!] }, alice.accessToken);
    expect(mine.data!.nodes).toEqual([{ __typename: 'Conversation', id: ids.Conversation }, null, { __typename: 'StoredFile', id: ids.StoredFile }]);
    expect(mine.errors?.map((e) => [e.extensions?.code, e.path])).toEqual([['NOT_FOUND', ['nodes', 1]]]);
    expect(errorCodes(await t.gql(NODES, { ids: Array.from({ length: 101 }, () => ids.Conversation!) }, alice.accessToken))).toEqual(['BAD_USER_INPUT']);
  });

  it('takes global ids and bare ones in id arguments, and refuses an id of another type', async () => {
    const byGlobal = await t.gql(ConversationDocument, { id: ids.Conversation! }, alice.accessToken);
    const byBare = await t.gql(ConversationDocument, { id: rawIdOf(ids.Conversation!) }, alice.accessToken);
    expect(byBare.data).toEqual(byGlobal.data);
    expect(byGlobal.data!.conversation.id).toBe(ids.Conversation);
    expect(errorCodes(await t.gql(ConversationDocument, { id: ids.Message! }, alice.accessToken))).toEqual(['NOT_FOUND']);
  });
});
