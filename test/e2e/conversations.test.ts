import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConversationDocument,
  ConversationsDocument,
  CreateConversationDocument,
  DeleteConversationDocument,
  RenameConversationDocument,
} from '../../src/generated/graphql.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let alice: Awaited<ReturnType<TestApp['newUser']>>;
let bob: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp();
  alice = await t.newUser();
  bob = await t.newUser();
});
afterAll(() => t.stop());

async function create(token: string, title: string) {
  const result = await t.gql(CreateConversationDocument, { input: { title } }, token);
  return result.data!.createConversation;
}

describe('conversations', () => {
  it('creates with defaults, renames, and validates input', async () => {
    const untitled = (await t.gql(CreateConversationDocument, {}, alice.accessToken)).data!.createConversation;
    expect(untitled.title).toBe('New conversation');
    const renamed = await t.gql(RenameConversationDocument, { id: untitled.id, title: '  Trip plans ' }, alice.accessToken);
    expect(renamed.data?.renameConversation.title).toBe('Trip plans');
    expect(Date.parse(renamed.data!.renameConversation.updatedAt)).toBeGreaterThanOrEqual(Date.parse(untitled.updatedAt));
    const fetched = await t.gql(ConversationDocument, { id: untitled.id }, alice.accessToken);
    expect(fetched.data?.conversation.title).toBe('Trip plans');

    expect(errorCodes(await t.gql(RenameConversationDocument, { id: untitled.id, title: '   ' }, alice.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(RenameConversationDocument, { id: untitled.id, title: 'x'.repeat(201) }, alice.accessToken))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expect(errorCodes(await t.gql(CreateConversationDocument, { input: { systemPrompt: 'y'.repeat(8001) } }, alice.accessToken))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expect(errorCodes(await t.gql(ConversationDocument, { id: 'not-an-id' }, alice.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(CreateConversationDocument, {}))).toEqual(['UNAUTHENTICATED']);
  });

  it('lists 120 conversations newest first across pages, without gaps or repeats', async () => {
    const user = await t.newUser();
    const created: string[] = [];
    for (let i = 0; i < 120; i++) created.push((await create(user.accessToken, `c${i}`)).id);

    const seen: string[] = [];
    let after: string | null | undefined;
    let pages = 0;
    for (;;) {
      const page = (await t.gql(ConversationsDocument, { first: 50, after }, user.accessToken)).data!.conversations;
      pages++;
      seen.push(...page.edges.map((edge) => edge.node.id));
      expect(page.pageInfo.hasPreviousPage).toBe(Boolean(after));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...created].reverse());

    expect(errorCodes(await t.gql(ConversationsDocument, { first: 0 }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(ConversationsDocument, { first: 101 }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(ConversationsDocument, { after: 'bm90IGEgY3Vyc29y' }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
  });

  it('deletes a conversation with 500 messages, leaving none behind', async () => {
    const conversation = await create(alice.accessToken, 'long one');
    const { messages } = t.app.services;
    let parentId: string | undefined;
    for (let i = 0; i < 500; i++) {
      const role = i % 2 === 0 ? 'user' : 'assistant';
      parentId = (await messages.add({ conversationId: rawIdOf(conversation.id), userId: alice.userId, role, content: `m${i}`, parentId }))
        .messageId;
    }
    const first = (await t.gql(ConversationDocument, { id: conversation.id, first: 100 }, alice.accessToken)).data!.conversation;
    expect(first.messages.edges.map((e) => e.node.content).slice(0, 3)).toEqual(['m0', 'm1', 'm2']);
    expect(first.messages.edges[1]!.node).toMatchObject({ role: 'ASSISTANT', parentId: first.messages.edges[0]!.node.id });
    expect(first.messages.pageInfo.hasNextPage).toBe(true);
    expect(await messages.count(rawIdOf(conversation.id))).toBe(500);

    const deleted = await t.gql(DeleteConversationDocument, { id: conversation.id }, alice.accessToken);
    expect(deleted.data?.deleteConversation).toBe(conversation.id);
    expect(await messages.count(rawIdOf(conversation.id))).toBe(0);
    expect(errorCodes(await t.gql(ConversationDocument, { id: conversation.id }, alice.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(DeleteConversationDocument, { id: conversation.id }, alice.accessToken))).toEqual(['NOT_FOUND']);
  });

  it("gives user B NOT_FOUND for user A's conversation, messages and mutations", async () => {
    const secret = await create(alice.accessToken, 'private');
    await t.app.services.messages.add({ conversationId: rawIdOf(secret.id), userId: alice.userId, role: 'user', content: 'hush' });

    const read = await t.gql(ConversationDocument, { id: secret.id }, bob.accessToken);
    expect(errorCodes(read)).toEqual(['NOT_FOUND']);
    expect(read.data).toBeNull();
    expect(errorCodes(await t.gql(RenameConversationDocument, { id: secret.id, title: 'mine now' }, bob.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(DeleteConversationDocument, { id: secret.id }, bob.accessToken))).toEqual(['NOT_FOUND']);
    const bobsList = (await t.gql(ConversationsDocument, { first: 100 }, bob.accessToken)).data!.conversations;
    expect(bobsList.edges.map((e) => e.node.id)).not.toContain(secret.id);

    // Nothing changed for the owner.
    const mine = (await t.gql(ConversationDocument, { id: secret.id }, alice.accessToken)).data!.conversation;
    expect(mine.title).toBe('private');
    expect(mine.messages.edges.map((e) => e.node.content)).toEqual(['hush']);
  });
});
