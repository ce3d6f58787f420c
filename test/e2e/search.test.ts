/**
 * Search over a user's own conversations: stemmed and prefix matches with marked, escaped
 * snippets; never another user's text; kept current by conversation events (new messages,
 * renames, deletions); and the indexes' memory bounded across users.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateConversationDocument,
  DeleteConversationDocument,
  RenameConversationDocument,
  SearchDocument,
  SendMessageDocument,
} from '../../src/generated/graphql.ts';
import { SearchService } from '../../src/search/service.ts';
import { errorCodes, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let alice: Awaited<ReturnType<TestApp['newUser']>>;
let bob: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob] = [await t.newUser(), await t.newUser()];
});
afterAll(() => t.stop());

/** A conversation with the user's messages (no worker runs here: only what users write is stored). */
async function conversation(token: string, ...messages: string[]): Promise<string> {
  let conversationId: string | undefined;
  for (const content of messages) {
    const sent = await t.gql(SendMessageDocument, { input: { content, conversationId } }, token);
    conversationId = sent.data!.sendMessage.conversation!.id;
  }
  return conversationId!;
}

const search = async (token: string, query: string, first = 20) => {
  const response = await t.gql(SearchDocument, { query, first }, token);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.search.edges.map((e) => e.node);
};

describe('search', () => {
  it('finds words in any of their forms and by their start, with marked and escaped snippets', async () => {
    const sea = await conversation(alice.accessToken, 'The lighthouse keepers were consigned to the <b>rocks</b> & the sea.', 'Tell me about harbors.');
    await conversation(alice.accessToken, 'Nothing to see here.');
    for (const query of ['lighthouses', 'lightho', 'consigning', 'KEEPER', 'lighthouse consign']) {
      const hits = await search(alice.accessToken, query);
      expect(hits.map((h) => h.message?.content.slice(0, 13)), query).toEqual(['The lighthous']);
      expect(hits[0]!.conversation.id).toBe(sea);
    }
    const [hit] = await search(alice.accessToken, 'lighthouses rock');
    expect(hit!.snippet).toBe('The <mark>lighthouse</mark> keepers were consigned to the &lt;b&gt;<mark>rocks</mark>&lt;/b&gt; &amp; the sea.');
    expect(hit!.score).toBeGreaterThan(0);
    // Every word must match: one that appears nowhere finds nothing.
    expect(await search(alice.accessToken, 'lighthouse zebra')).toEqual([]);
  });

  it('never finds another user’s text', async () => {
    await conversation(alice.accessToken, 'A secret about quasars.');
    expect((await search(alice.accessToken, 'quasar')).length).toBe(1);
    expect(await search(bob.accessToken, 'quasar')).toEqual([]);
    expect(await search(bob.accessToken, 'secret')).toEqual([]);
  });

  it('keeps up with new messages, renames and deletions', async () => {
    const id = await conversation(alice.accessToken, 'First words about penguins.');
    expect(await search(alice.accessToken, 'walrus')).toEqual([]); // the index exists now
    await t.gql(SendMessageDocument, { input: { conversationId: id, content: 'Then a walrus arrived.' } }, alice.accessToken);
    await expect.poll(async () => (await search(alice.accessToken, 'walrus')).map((h) => h.message?.content)).toEqual(['Then a walrus arrived.']);
    await t.gql(RenameConversationDocument, { id, title: 'Antarctic fauna' }, alice.accessToken);
    await expect.poll(async () => (await search(alice.accessToken, 'antarctic')).map((h) => [h.conversation.id, h.message, h.snippet])).toEqual([
      [id, null, '<mark>Antarctic</mark> fauna'],
    ]);
    const empty = (await t.gql(CreateConversationDocument, { input: { title: 'Narwhal notes' } }, alice.accessToken)).data!.createConversation.id;
    await t.gql(SendMessageDocument, { input: { conversationId: empty, content: 'Tusks.' } }, alice.accessToken);
    await expect.poll(async () => (await search(alice.accessToken, 'narwhal')).map((h) => h.conversation.id)).toEqual([empty]);
    await t.gql(DeleteConversationDocument, { id }, alice.accessToken);
    await expect.poll(async () => [...(await search(alice.accessToken, 'walrus')), ...(await search(alice.accessToken, 'penguin'))]).toEqual([]);
  });

  it('pages through hits, best first', async () => {
    const user = await t.newUser();
    for (let i = 0; i < 7; i++) await conversation(user.accessToken, `Report number ${i}: ${'otter '.repeat(i + 1)}`);
    const seen: number[] = [];
    let after: string | null | undefined;
    do {
      const page = (await t.gql(SearchDocument, { query: 'otters', first: 3, after }, user.accessToken)).data!.search;
      seen.push(...page.edges.map((e) => e.node.score));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after);
    expect(seen).toHaveLength(7);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
  });

  it('refuses an empty or overlong query, and a made-up cursor', async () => {
    expect(errorCodes(await t.gql(SearchDocument, { query: '  ' }, alice.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(SearchDocument, { query: 'x'.repeat(201) }, alice.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(SearchDocument, { query: 'x', after: 'bogus' }, alice.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(SearchDocument, { query: 'x' }))).toEqual(['UNAUTHENTICATED']);
  });

  it('keeps the indexes within their memory bound, the least recently used going first', async () => {
    const users = [await t.newUser(), await t.newUser(), await t.newUser()];
    for (const [i, user] of users.entries()) await conversation(user.accessToken, `${'a few words of text '.repeat(50)} user${i}`);
    const bound = 8_000; // two of these users' indexes (about 3.6 kB each, as estimated), not three
    const service = new SearchService({ conversations: t.infra.conversations, messages: t.infra.messages, events: t.infra.conversationEvents, maxBytes: bound, logger: t.infra.logger });
    for (const user of users) {
      expect(await service.search(user.userId, 'words', {})).toMatchObject({ hits: [expect.anything()] });
      expect(service.cachedBytes).toBeLessThanOrEqual(bound);
    }
    expect(service.cachedUsers().sort()).toEqual([users[1]!.userId, users[2]!.userId].sort());
    // The evicted one is built again on its next search, and the least recently used goes instead.
    await service.search(users[0]!.userId, 'words', {});
    expect(service.cachedUsers().sort()).toEqual([users[0]!.userId, users[2]!.userId].sort());
    // An index larger than the whole bound is not kept, and still answers.
    const tiny = new SearchService({ conversations: t.infra.conversations, messages: t.infra.messages, events: t.infra.conversationEvents, maxBytes: 100, logger: t.infra.logger });
    expect((await tiny.search(users[0]!.userId, 'user0', {})).hits).toHaveLength(1);
    expect(tiny.cachedUsers()).toEqual([]);
  });
});
