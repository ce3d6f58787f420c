/**
 * Titles from the model: after a conversation's first reply it is renamed (a RENAMED event for
 * other devices) with what the model wrote, unless the user titled it; the work is recorded in
 * the usage ledger as `title` and not counted against the quota.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConversationDocument,
  CreateConversationDocument,
  GenerationEventsDocument,
  MyUsageDocument,
  RenameConversationDocument,
  SendMessageDocument,
} from '../../src/generated/graphql.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000' });
});
afterAll(() => t.stop());

async function exchange(token: string, content: string, conversationId?: string) {
  const sent = (await t.gql(SendMessageDocument, { input: { content, conversationId, params: { maxTokens: 8, seed: 1 } } }, token)).data!.sendMessage;
  const client = wsClient(t.url, token);
  const events = await collectSubscription(client, GenerationEventsDocument, { id: sent.id, after: 0 });
  await client.dispose();
  const done = events.at(-1)!.data!.generation;
  if (done.__typename !== 'GenerationCompleted') throw new Error(JSON.stringify(done));
  return { conversationId: sent.conversation!.id, firstTitle: sent.conversation!.title, usage: done.usage };
}

const titleOf = async (token: string, id: string) => (await t.gql(ConversationDocument, { id }, token)).data!.conversation.title;

describe('automatic titles', () => {
  it('replaces the first words with the model’s title after the first reply, as background usage', async () => {
    const user = await t.newUser();
    const { conversationId, firstTitle, usage } = await exchange(user.accessToken, 'Tell me about lighthouses and the sea in winter.');
    expect(firstTitle).toBe('Tell me about lighthouses and the sea in winter.');
    await expect.poll(() => titleOf(user.accessToken, conversationId), { timeout: 20_000 }).not.toBe(firstTitle);
    const title = await titleOf(user.accessToken, conversationId);
    expect(title.length).toBeGreaterThan(0);
    expect(title.length).toBeLessThanOrEqual(61);
    expect(title).not.toContain('\n');
    // The title's tokens are recorded, not counted; a second exchange asks for no new title.
    const day = (await t.gql(MyUsageDocument, {}, user.accessToken)).data!.me.usage.day;
    expect(day.requests).toBe(2);
    expect(day.countedTokens).toBe(usage.totalTokens);
    expect(day.totalTokens).toBeGreaterThan(usage.totalTokens);
    await exchange(user.accessToken, 'And in summer?', conversationId);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await t.gql(MyUsageDocument, {}, user.accessToken)).data!.me.usage.day.requests).toBe(3);
    expect(await (await fetch(`${t.url}/metrics`)).text()).toMatch(/^tokens_total\{role="users",kind="title",model="default"\} [1-9]/m);
  });

  it('never replaces a title the user gave or chose', async () => {
    const user = await t.newUser();
    const given = (await t.gql(CreateConversationDocument, { input: { title: 'My own title' } }, user.accessToken)).data!.createConversation.id;
    const renamed = (await t.gql(CreateConversationDocument, {}, user.accessToken)).data!.createConversation.id;
    expect(await titleOf(user.accessToken, renamed)).toBe('New conversation');
    await t.gql(RenameConversationDocument, { id: renamed, title: 'Chosen later' }, user.accessToken);
    await exchange(user.accessToken, 'Hello there', given);
    await exchange(user.accessToken, 'Hello again', renamed);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await titleOf(user.accessToken, given)).toBe('My own title');
    expect(await titleOf(user.accessToken, renamed)).toBe('Chosen later');
    expect((await t.gql(MyUsageDocument, {}, user.accessToken)).data!.me.usage.day.requests).toBe(2); // no title job ran
  });
});
