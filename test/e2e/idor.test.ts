/**
 * IDOR sweep: every field that takes an id, called by user B with user A's id, answers
 * NOT_FOUND (FORBIDDEN for admin-only fields) and changes nothing. The list of fields comes from
 * the schema, so a new id-taking field without a case here fails the sweep.
 *
 * HTTP routes that take an id (`/files/:id`, `/conversations/:id/export`) answer 404 the same way.
 */
import { getNamedType, isObjectType, parse, print, type GraphQLFormattedError } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ApiKeysDocument,
  ArchiveConversationDocument,
  CreateApiKeyDocument,
  RevokeApiKeyDocument,
  CancelGenerationDocument,
  CreateFolderDocument,
  DeleteFolderDocument,
  FoldersDocument,
  MoveConversationDocument,
  PinConversationDocument,
  RenameFolderDocument,
  SetConversationTagsDocument,
  SetFolderSystemPromptDocument,
  RevokeShareDocument,
  ShareConversationDocument,
  SharedConversationDocument,
  SharesDocument,
  ConversationBranchDocument,
  EditMessageDocument,
  ForkConversationDocument,
  SetActiveLeafDocument,
  SetUserQuotaDocument,
  UsageChangedDocument,
  UserUsageDocument,
  GenerationEventsDocument,
  RegenerateDocument,
  SendMessageDocument,
  ConversationDocument,
  ConversationsDocument,
  ConversationEventsDocument,
  CreateConversationDocument,
  DeleteConversationDocument,
  DisableUserDocument,
  MeDocument,
  RenameConversationDocument,
  SetUserRoleDocument,
  DeleteFileDocument,
  FileDocument,
  FilesDocument,
  GenerateStreamDocument,
} from '../../src/generated/graphql.ts';
import { download, upload } from '../support/files-helpers.ts';
import { schema } from '../../src/schema/index.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';

type User = Awaited<ReturnType<TestApp['newUser']>>;
let t: TestApp;
let alice: User;
let bob: User;
let aliceConversationId: string;
let aliceGeneration: { id: string; userMessageId: string };
let aliceFileId: string;
let bobConversationId: string;
let aliceFolderId: string;
let aliceShareId: string;
let aliceApiKeyId: string;

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob] = [await t.newUser(), await t.newUser()];
  aliceConversationId = (await t.gql(CreateConversationDocument, { input: { title: 'alice only' } }, alice.accessToken)).data!.createConversation.id;
  await t.app.services.messages.add({ conversationId: rawIdOf(aliceConversationId), userId: alice.userId, role: 'user', content: 'secret' });
  // No worker runs here: the generation stays queued, which is all the sweep needs.
  const sent = (await t.gql(SendMessageDocument, { input: { conversationId: aliceConversationId, content: 'more secret' } }, alice.accessToken)).data!.sendMessage;
  aliceGeneration = { id: sent.id, userMessageId: sent.userMessage!.id };
  aliceFileId = (await upload(t, alice.accessToken, Buffer.from('alice’s notes'), 'notes.txt')).data!.uploadFile.id;
  bobConversationId = (await t.gql(CreateConversationDocument, { input: { title: 'bob’s' } }, bob.accessToken)).data!.createConversation.id;
  aliceFolderId = (await t.gql(CreateFolderDocument, { name: 'alice’s folder' }, alice.accessToken)).data!.createFolder.id;
  await t.gql(MoveConversationDocument, { id: aliceConversationId, folderId: aliceFolderId }, alice.accessToken);
  aliceShareId = (await t.gql(ShareConversationDocument, { id: aliceConversationId }, alice.accessToken)).data!.shareConversation.id;
  aliceApiKeyId = (await t.gql(CreateApiKeyDocument, { name: 'alice’s key' }, alice.accessToken)).data!.createApiKey.apiKey.id;
});
afterAll(() => t.stop());

/** `Type.field` for every field, on any type, with an argument of type ID. */
function idTakingFields(): string[] {
  const fields: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      if (field.args.some((arg) => getNamedType(arg.type).name === 'ID')) fields.push(`${type.name}.${field.name}`);
    }
  }
  return fields.sort();
}

/** First result of a subscription over graphql-ws, as user B (or without a token). */
async function subscribeAs(accessToken: string | undefined, query: string, variables: Record<string, unknown>): Promise<readonly GraphQLFormattedError[]> {
  const client = createClient({ url: `${t.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: accessToken ? { accessToken } : {}, retryAttempts: 0 });
  try {
    return await new Promise((resolve, reject) => {
      client.subscribe(
        { query, variables },
        {
          next: (value) => resolve(value.errors ?? []),
          // A refused subscription ends with its GraphQL errors; anything else is a broken test.
          error: (error) => (Array.isArray(error) ? resolve(error as GraphQLFormattedError[]) : reject(error)),
          complete: () => resolve([]),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

const subscribeAsBob = (query: string, variables: Record<string, unknown>) => subscribeAs(bob.accessToken, query, variables);

/** What B sees for each id-taking field when it uses A's ids. */
const SWEEP: Record<string, () => Promise<readonly GraphQLFormattedError[] | undefined>> = {
  'Query.conversation': async () => (await t.gql(ConversationDocument, { id: aliceConversationId }, bob.accessToken)).errors,
  'Mutation.renameConversation': async () => (await t.gql(RenameConversationDocument, { id: aliceConversationId, title: 'bob was here' }, bob.accessToken)).errors,
  'Mutation.deleteConversation': async () => (await t.gql(DeleteConversationDocument, { id: aliceConversationId }, bob.accessToken)).errors,
  'Subscription.conversationEvents': () => subscribeAsBob(print(ConversationEventsDocument), { id: aliceConversationId }),
  'Subscription.generation': () => subscribeAsBob(print(GenerationEventsDocument), { id: aliceGeneration.id, after: 0 }),
  'Mutation.cancelGeneration': async () => (await t.gql(CancelGenerationDocument, { id: aliceGeneration.id }, bob.accessToken)).errors,
  'Mutation.editMessage': async () => (await t.gql(EditMessageDocument, { messageId: aliceGeneration.userMessageId, content: 'bob was here' }, bob.accessToken)).errors,
  'Mutation.forkConversation': async () => (await t.gql(ForkConversationDocument, { messageId: aliceGeneration.userMessageId }, bob.accessToken)).errors,
  'Mutation.setActiveLeaf': async () => {
    const inAlices = (await t.gql(SetActiveLeafDocument, { conversationId: aliceConversationId, messageId: aliceGeneration.userMessageId }, bob.accessToken)).errors;
    // Bob's own conversation with Alice's message must be refused the same way: if not, that is what is reported.
    const inBobs = (await t.gql(SetActiveLeafDocument, { conversationId: bobConversationId, messageId: aliceGeneration.userMessageId }, bob.accessToken)).errors;
    return errorCodes({ errors: inBobs }).join() === 'NOT_FOUND' ? inAlices : inBobs;
  },
  'Mutation.pinConversation': async () => (await t.gql(PinConversationDocument, { id: aliceConversationId, pinned: true }, bob.accessToken)).errors,
  'Mutation.archiveConversation': async () => (await t.gql(ArchiveConversationDocument, { id: aliceConversationId, archived: true }, bob.accessToken)).errors,
  'Mutation.setConversationTags': async () => (await t.gql(SetConversationTagsDocument, { id: aliceConversationId, tags: ['bob'] }, bob.accessToken)).errors,
  'Mutation.moveConversation': async () => {
    const aliceConversation = (await t.gql(MoveConversationDocument, { id: aliceConversationId, folderId: null }, bob.accessToken)).errors;
    // Bob's own conversation into Alice's folder must be refused the same way: if not, that is what is reported.
    const aliceFolder = (await t.gql(MoveConversationDocument, { id: bobConversationId, folderId: aliceFolderId }, bob.accessToken)).errors;
    return errorCodes({ errors: aliceFolder }).join() === 'NOT_FOUND' ? aliceConversation : aliceFolder;
  },
  'Mutation.renameFolder': async () => (await t.gql(RenameFolderDocument, { id: aliceFolderId, name: 'bob was here' }, bob.accessToken)).errors,
  'Mutation.setFolderSystemPrompt': async () => (await t.gql(SetFolderSystemPromptDocument, { id: aliceFolderId, systemPrompt: 'bob was here' }, bob.accessToken)).errors,
  'Mutation.deleteFolder': async () => (await t.gql(DeleteFolderDocument, { id: aliceFolderId }, bob.accessToken)).errors,
  'Mutation.shareConversation': async () => (await t.gql(ShareConversationDocument, { id: aliceConversationId }, bob.accessToken)).errors,
  'Mutation.revokeShare': async () => (await t.gql(RevokeShareDocument, { id: aliceShareId }, bob.accessToken)).errors,
  // Shares are public to whoever holds the link (128 random bits); other ids, a conversation's included, are no link.
  'Query.sharedConversation': async () => (await t.gql(SharedConversationDocument, { id: aliceConversationId }, bob.accessToken)).errors,
  'Mutation.revokeApiKey': async () => (await t.gql(RevokeApiKeyDocument, { id: aliceApiKeyId }, bob.accessToken)).errors,
  'Conversation.branch': async () => (await t.gql(ConversationBranchDocument, { id: bobConversationId, leafId: aliceGeneration.userMessageId }, bob.accessToken)).errors,
  'Mutation.regenerate': async () => (await t.gql(RegenerateDocument, { messageId: aliceGeneration.userMessageId }, bob.accessToken)).errors,
  'Query.file': async () => (await t.gql(FileDocument, { id: aliceFileId }, bob.accessToken)).errors,
  'Mutation.deleteFile': async () => (await t.gql(DeleteFileDocument, { id: aliceFileId }, bob.accessToken)).errors,
  // An input field, not an argument: not found by the schema walk, listed by hand.
  'SendMessageInput.fileIds': async () => (await t.gql(SendMessageDocument, { input: { content: 'summarise', fileIds: [aliceFileId] } }, bob.accessToken)).errors,
  // Admin-only: a user id is not a resource its owner may act on, so B is refused outright.
  'Mutation.setUserRole': async () => (await t.gql(SetUserRoleDocument, { userId: alice.userId, role: 'ADMIN' }, bob.accessToken)).errors,
  'Mutation.disableUser': async () => (await t.gql(DisableUserDocument, { userId: alice.userId }, bob.accessToken)).errors,
  'Mutation.setUserQuota': async () => (await t.gql(SetUserQuotaDocument, { userId: alice.userId, tokensPerDay: 1 }, bob.accessToken)).errors,
  'Query.user': async () => (await t.gql(UserUsageDocument, { id: alice.userId }, bob.accessToken)).errors,
  // Relay's refetch: another user's object, of any type, is NOT_FOUND at its path.
  'Query.node': async () => (await t.gql(parse('query Node($id: ID!) { node(id: $id) { id } }') as TypedDocumentNode<unknown, { id: string }>, { id: aliceConversationId }, bob.accessToken)).errors,
  'Query.nodes': async () => (await t.gql(parse('query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id } }') as TypedDocumentNode<unknown, { ids: string[] }>, { ids: [aliceFileId] }, bob.accessToken)).errors,
};
const ADMIN_ONLY = new Set(['Mutation.setUserRole', 'Mutation.disableUser', 'Mutation.setUserQuota', 'Query.user']);

describe('IDOR sweep', () => {
  it('has a case for every field that takes an id', () => {
    expect(Object.keys(SWEEP).filter((field) => !field.endsWith('Input.fileIds')).sort()).toEqual(idTakingFields());
  });

  for (const [field, attempt] of Object.entries(SWEEP)) {
    it(`${field}: user B with user A's id is refused`, async () => {
      expect(errorCodes({ errors: await attempt() })).toEqual([ADMIN_ONLY.has(field) ? 'FORBIDDEN' : 'NOT_FOUND']);
    });
  }

  // Every subscription field, called without a token over graphql-ws and SSE, is refused as
  // UNAUTHENTICATED before it looks anything up (a lookup would answer NOT_FOUND). The fields come
  // from the schema, so a new subscription without a case fails here.
  const ANONYMOUS: Record<string, { query: string; variables: Record<string, unknown> }> = {
    conversationEvents: { query: print(ConversationEventsDocument), variables: { id: '01J0000000000000000000000Z' } },
    generation: { query: print(GenerationEventsDocument), variables: { id: '01J0000000000000000000000Z', after: 0 } },
    generateStream: { query: print(GenerateStreamDocument), variables: { input: { prompt: 'hello' } } },
    usageChanged: { query: print(UsageChangedDocument), variables: {} },
  };

  it('has an anonymous case for every subscription field', () => {
    expect(Object.keys(ANONYMOUS).sort()).toEqual(Object.keys(schema.getSubscriptionType()!.getFields()).sort());
  });

  for (const [field, { query, variables }] of Object.entries(ANONYMOUS)) {
    it(`Subscription.${field} without a token is UNAUTHENTICATED over graphql-ws and SSE`, async () => {
      expect(errorCodes({ errors: await subscribeAs(undefined, query, variables) })).toEqual(['UNAUTHENTICATED']);
      const response = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query, variables }),
      });
      const text = await response.text();
      const next = /event: next\ndata: (.*)\n/.exec(text);
      expect(next, text).not.toBeNull();
      expect(errorCodes(JSON.parse(next![1]!) as { errors?: GraphQLFormattedError[] })).toEqual(['UNAUTHENTICATED']);
    });
  }

  it('HTTP routes: B gets 404 for A\'s file and conversation export, and B\'s file list is empty', async () => {
    expect((await download(t, aliceFileId, bob.accessToken)).status).toBe(404);
    for (const format of ['json', 'md', 'pdf']) {
      const response = await fetch(`${t.url}/conversations/${aliceConversationId}/export?format=${format}`, { headers: { authorization: `Bearer ${bob.accessToken}` } });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('NOT_FOUND');
    }
    expect((await t.gql(FilesDocument, {}, bob.accessToken)).data!.files.edges).toEqual([]);
  });

  it("leaves user A's data as it was", async () => {
    expect((await t.gql(FileDocument, { id: aliceFileId }, alice.accessToken)).data!.file.name).toBe('notes.txt');
    expect(Buffer.from(await (await download(t, aliceFileId, alice.accessToken)).arrayBuffer()).toString()).toBe('alice’s notes');
    const conversation = (await t.gql(ConversationDocument, { id: aliceConversationId }, alice.accessToken)).data!.conversation;
    expect(conversation).toMatchObject({ title: 'alice only', pinned: false, archived: false, tags: [], folder: { id: aliceFolderId, name: 'alice’s folder' } });
    expect((await t.gql(FoldersDocument, {}, bob.accessToken)).data!.folders).toEqual([]);
    expect((await t.gql(SharesDocument, {}, bob.accessToken)).data!.shares.edges).toEqual([]);
    expect((await t.gql(ApiKeysDocument, {}, alice.accessToken)).data!.apiKeys.map((k) => k.id)).toEqual([aliceApiKeyId]);
    expect((await t.gql(ApiKeysDocument, {}, bob.accessToken)).data!.apiKeys).toEqual([]);
    expect((await t.gql(SharedConversationDocument, { id: aliceShareId })).data!.sharedConversation.messages.map((m) => m.content)).toEqual(['secret', 'more secret']);
    expect(conversation.messages.edges.map((edge) => edge.node.content)).toEqual(['secret', 'more secret']);
    expect((await t.gql(ConversationsDocument, {}, bob.accessToken)).data!.conversations.edges.map((edge) => edge.node.id)).toEqual([bobConversationId]);
    expect(await t.app.services.streams.get(rawIdOf(aliceGeneration.id))).toMatchObject({ status: 'QUEUED' });
    expect(await t.app.services.streams.isCancelRequested(rawIdOf(aliceGeneration.id))).toBe(false);
    expect((await t.gql(MeDocument, {}, alice.accessToken)).data!.me).toMatchObject({ role: 'USERS', status: 'CONFIRMED' });
    expect(await t.app.services.usage.quota(alice.userId, ['users'])).toMatchObject({ overridden: false });
  });
});
