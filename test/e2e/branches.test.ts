/**
 * Branches: edits and regenerations make siblings, the active branch is what is shown, continued
 * and given to the model, clients move between branches, and a fork copies one branch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConversationBranchDocument,
  CreateConversationDocument,
  ConversationDocument,
  EditMessageDocument,
  ForkConversationDocument,
  GenerationEventsDocument,
  RegenerateDocument,
  SendMessageDocument,
  SetActiveLeafDocument,
} from '../../src/generated/graphql.ts';
import { capturePrompts } from '../support/captured-prompts.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;
const captured = capturePrompts();

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000' });
  user = await t.newUser();
});
afterAll(async () => {
  await t.stop();
  captured.restore();
});

const params = { maxTokens: 6, seed: 1 };

async function finished(generationId: string): Promise<void> {
  const client = wsClient(t.url, user.accessToken);
  const events = await collectSubscription(client, GenerationEventsDocument, { id: generationId, after: 0 });
  await client.dispose();
  expect(events.at(-1)!.data!.generation.__typename).toBe('GenerationCompleted');
}

async function send(content: string, conversationId?: string) {
  const sent = (await t.gql(SendMessageDocument, { input: { content, conversationId, params } }, user.accessToken)).data!.sendMessage;
  await finished(sent.id);
  return sent;
}

async function branch(conversationId: string, leafId?: string) {
  const { conversation } = (await t.gql(ConversationBranchDocument, { id: conversationId, leafId }, user.accessToken)).data!;
  return { activeLeafId: conversation.activeLeafId, messages: conversation.branch };
}

/** The chat the model was last given, as role: content lines. */
const lastPrompt = () => captured.lastChat().map((m) => `${m.role}: ${m.content}`);

describe('branches', () => {
  it('keeps each edit and regeneration as a branch, shows and continues the active one, and gives the model exactly it', async () => {
    const first = await send('First question');
    const conversationId = first.conversation!.id;
    const second = await send('Second question', conversationId);
    let shown = await branch(conversationId);
    expect(shown.messages.map((m) => m.content.slice(0, 15))).toEqual(['First question', expect.any(String), 'Second question', expect.any(String)]);
    const [a, r1, b, r2] = shown.messages;
    expect(shown.activeLeafId).toBe(r2!.id);
    expect(second.userMessage!.parentId).toBe(r1!.id);

    // Regenerate the last reply: a sibling of it, which becomes the active leaf once stored.
    const again = (await t.gql(RegenerateDocument, { messageId: r2!.id, params }, user.accessToken)).data!.regenerate;
    await finished(again.id);
    expect(lastPrompt()).toEqual([`user: ${a!.content}`, `assistant: ${r1!.content}`, `user: ${b!.content}`]);
    shown = await branch(conversationId);
    expect(shown.activeLeafId).toBe(again.replyMessageId);
    expect(shown.messages.map((m) => m.id)).toEqual([a!.id, r1!.id, b!.id, again.replyMessageId]);
    expect(shown.messages.at(-1)).toMatchObject({ siblingIndex: 1, siblingCount: 2 });
    expect(shown.messages[2]!.children.map((c) => c.id)).toEqual([r2!.id, again.replyMessageId]);

    // Edit the second question: a new version beside it, answered, and shown.
    const edit = (await t.gql(EditMessageDocument, { messageId: b!.id, content: 'Second question, better put', params }, user.accessToken)).data!.editMessage;
    expect(edit.userMessage).toMatchObject({ parentId: r1!.id });
    expect(edit.conversation!.activeLeafId).toBe(edit.userMessage!.id); // until the reply is stored
    await finished(edit.id);
    expect(lastPrompt()).toEqual([`user: ${a!.content}`, `assistant: ${r1!.content}`, 'user: Second question, better put']);
    shown = await branch(conversationId);
    expect(shown.messages.map((m) => m.id)).toEqual([a!.id, r1!.id, edit.userMessage!.id, edit.replyMessageId]);
    expect(shown.messages[2]).toMatchObject({ siblingIndex: 1, siblingCount: 2 });
    expect(shown.messages[1]!.children.map((c) => c.id)).toEqual([b!.id, edit.userMessage!.id]);

    // Back to the first version of the question: its newest reply below it is shown.
    const moved = (await t.gql(SetActiveLeafDocument, { conversationId, messageId: b!.id }, user.accessToken)).data!.setActiveLeaf;
    expect(moved.activeLeafId).toBe(again.replyMessageId);
    // A message without parentId continues the active branch, and the model sees that branch.
    const third = await send('Third question', conversationId);
    expect(third.userMessage!.parentId).toBe(again.replyMessageId);
    const reply = (await branch(conversationId)).messages.find((m) => m.id === again.replyMessageId)!;
    expect(lastPrompt()).toEqual([`user: ${a!.content}`, `assistant: ${r1!.content}`, `user: ${b!.content}`, `assistant: ${reply.content}`, 'user: Third question']);

    // Any branch can be read by its leaf; every message is still listed in writing order.
    expect((await branch(conversationId, r2!.id)).messages.map((m) => m.id)).toEqual([a!.id, r1!.id, b!.id, r2!.id]);
    const all = (await t.gql(ConversationDocument, { id: conversationId, first: 100 }, user.accessToken)).data!.conversation.messages.edges.map((e) => rawIdOf(e.node.id));
    expect(all).toHaveLength(9); // A, R1, B, R2, R2′, B′, R3, the third question and its reply
    expect(all).toEqual([...all].sort());
  });

  it('keeps the branch a user switched to while a reply was being written', async () => {
    const first = await send('Question');
    const conversationId = first.conversation!.id;
    const { messages } = await branch(conversationId);
    const conversations = t.app.services.conversations;
    // The reply to the first question lands after the user moved to another branch (here: its root).
    const [raw, root, answered] = [rawIdOf(conversationId), rawIdOf(messages[0]!.id), rawIdOf(messages[1]!.id)];
    await conversations.showBranchTo(user.userId, raw, root);
    const other = await t.app.services.messages.add({ conversationId: raw, userId: user.userId, role: 'assistant', content: 'late reply', parentId: root });
    await conversations.replyAdded(user.userId, raw, other.messageId, answered);
    expect((await branch(conversationId)).activeLeafId).toBe(messages[0]!.id);
    // Where the branch still ended at the message answered, the reply takes over.
    await conversations.replyAdded(user.userId, raw, other.messageId, root);
    expect(rawIdOf((await branch(conversationId)).activeLeafId!)).toBe(other.messageId);
  });

  it('forks a conversation at a message: a copy of that branch and nothing else', async () => {
    // Titled by the user: no automatic title can change it while the fork is made.
    const conversationId = (await t.gql(CreateConversationDocument, { input: { title: 'Fork me' } }, user.accessToken)).data!.createConversation.id;
    await send('Fork me', conversationId);
    await send('Not in the fork', conversationId);
    const [question, answer] = (await branch(conversationId)).messages;
    const fork = (await t.gql(ForkConversationDocument, { messageId: answer!.id }, user.accessToken)).data!.forkConversation;
    expect(fork.id).not.toBe(conversationId);
    expect(fork.title).toBe('Fork me');
    expect(fork.messageCount).toBe(2);
    expect(fork.branch.map((m) => [m.role, m.content])).toEqual([
      [question!.role, question!.content],
      [answer!.role, answer!.content],
    ]);
    expect(fork.branch.map((m) => m.id)).not.toContain(question!.id);
    expect(fork.branch[1]!.parentId).toBe(fork.branch[0]!.id);
    expect(fork.activeLeafId).toBe(fork.branch[1]!.id);
    // The original is as it was.
    expect((await branch(conversationId)).messages).toHaveLength(4);
  });

  it('refuses what is not the user’s own message, and what cannot be edited', async () => {
    const first = await send('Mine');
    const conversationId = first.conversation!.id;
    const [question, answer] = (await branch(conversationId)).messages;
    const elsewhere = (await send('Another conversation')).conversation!.id;
    expect(errorCodes(await t.gql(SetActiveLeafDocument, { conversationId: elsewhere, messageId: question!.id }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(ConversationBranchDocument, { id: elsewhere, leafId: question!.id }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(EditMessageDocument, { messageId: answer!.id, content: 'x' }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(EditMessageDocument, { messageId: question!.id, content: '  ' }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(EditMessageDocument, { messageId: 'nonsense', content: 'x' }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(ForkConversationDocument, { messageId: 'nonsense' }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect((await branch(conversationId)).messages).toHaveLength(2);
  });
});
