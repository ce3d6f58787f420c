/**
 * Conversation export (JSON, Markdown, PDF) and import. The PDF is checked the way a reader
 * would see it: pdf.js, Firefox's PDF reader (through unpdf), must give back the text in every
 * script, which only works when the embedded font has the glyphs and a ToUnicode map.
 */
import { extractText } from 'unpdf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationDocument, CreateConversationDocument, ImportConversationDocument } from '../../src/generated/graphql.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let alice: Awaited<ReturnType<TestApp['newUser']>>;
let bob: Awaited<ReturnType<TestApp['newUser']>>;
let conversationId: string;

const TEXTS = {
  english: 'The quick brown fox jumps over the lazy dog.',
  french: 'Où est la bibliothèque ? Ça dépend : à côté du château, près de l’église.',
  greek: 'Καλημέρα κόσμε, η γλώσσα μου έδωσαν ελληνική.',
  cyrillic: 'Съешь же ещё этих мягких французских булок, да выпей чаю.',
};

beforeAll(async () => {
  t = await startTestApp();
  [alice, bob] = [await t.newUser(), await t.newUser()];
  conversationId = (await t.gql(CreateConversationDocument, { input: { title: 'Voyage · Путешествие', systemPrompt: 'Réponds brièvement.' } }, alice.accessToken)).data!.createConversation.id;
  const { messages, conversations } = t.app.services;
  let parentId: string | undefined;
  const turns: ['user' | 'assistant', string][] = [
    ['user', TEXTS.english],
    ['assistant', TEXTS.french],
    ['user', TEXTS.greek],
    ['assistant', TEXTS.cyrillic],
  ];
  for (const [role, content] of turns) {
    parentId = (await messages.add({ conversationId: rawIdOf(conversationId), userId: alice.userId, role, content, parentId, ...(role === 'assistant' ? { model: 'tiny' } : {}) })).messageId;
    await conversations.messageAdded(alice.userId, rawIdOf(conversationId), parentId);
  }
});
afterAll(() => t.stop());

const exportOf = (id: string, format: string, token = alice.accessToken) =>
  fetch(`${t.url}/conversations/${encodeURIComponent(id)}/export?format=${format}`, { headers: { authorization: `Bearer ${token}` } });

describe('conversation export', () => {
  it('PDF: a reader gets back English, accented French, Greek and Cyrillic text', async () => {
    const response = await exportOf(conversationId, 'pdf');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="conversation-.*\.pdf"/);
    const { text: pages } = await extractText(new Uint8Array(await response.arrayBuffer()), { mergePages: true });
    const text = pages.replace(/\s+/g, ' ');
    for (const sample of [...Object.values(TEXTS), 'Voyage · Путешествие', 'Réponds brièvement.']) expect(text).toContain(sample);
  });

  it('Markdown: a heading per message, the text as written', async () => {
    const response = await exportOf(conversationId, 'md');
    expect(response.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    const markdown = await response.text();
    expect(markdown).toMatch(/^# Voyage · Путешествие\n/);
    expect(markdown).toContain('> Réponds brièvement.');
    const headings = [...markdown.matchAll(/^## (User|Assistant)/gm)].map((m) => m[1]);
    expect(headings).toEqual(['User', 'Assistant', 'User', 'Assistant']);
    for (const sample of Object.values(TEXTS)) expect(markdown).toContain(sample);
  });

  it('JSON export then import gives an equal conversation (text, roles, order, branches)', async () => {
    const exported = (await (await exportOf(conversationId, 'json')).json()) as Record<string, unknown>;
    const imported = await t.gql(ImportConversationDocument, { data: exported }, bob.accessToken);
    expect(imported.errors).toBeUndefined();
    const copy = imported.data!.importConversation;
    expect(copy.id).not.toBe(conversationId);
    const original = (await t.gql(ConversationDocument, { id: conversationId }, alice.accessToken)).data!.conversation;
    expect({ title: copy.title, systemPrompt: copy.systemPrompt, messageCount: copy.messageCount }).toEqual({
      title: original.title,
      systemPrompt: original.systemPrompt,
      messageCount: 4,
    });
    const shape = (edges: { node: { id: string; role: string; content: string; parentId?: string | null } }[]) => {
      const index = new Map(edges.map((e, i) => [e.node.id, i]));
      return edges.map((e) => [e.node.role, e.node.content, e.node.parentId ? index.get(e.node.parentId) : null]);
    };
    expect(shape(copy.messages.edges)).toEqual(shape(original.messages.edges));
    // And the copy exports to the same content again.
    const again = (await (await exportOf(copy.id, 'json', bob.accessToken)).json()) as { messages: { role: string; content: string }[] };
    expect(again.messages.map((m) => [m.role, m.content])).toEqual((exported.messages as { role: string; content: string }[]).map((m) => [m.role, m.content]));
  });

  it('import refuses a document that is not an export, or has a dangling parent, and stores nothing', async () => {
    const user = await t.newUser();
    const exported = (await (await exportOf(conversationId, 'json')).json()) as { messages: { parentId: string | null }[] };
    exported.messages[2]!.parentId = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    for (const data of [{ hello: 'world' }, exported]) {
      expect(errorCodes(await t.gql(ImportConversationDocument, { data }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    }
    expect((await t.app.services.conversations.list(user.userId, {})).items).toEqual([]);
  });

  it('refuses an unknown format (400), no token (401), and another user’s or a missing id (404)', async () => {
    const bad = await exportOf(conversationId, 'docx');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
    expect((await fetch(`${t.url}/conversations/${conversationId}/export?format=json`)).status).toBe(401);
    for (const format of ['json', 'md', 'pdf']) expect((await exportOf(conversationId, format, bob.accessToken)).status).toBe(404);
    expect((await exportOf('not-an-id', 'json')).status).toBe(404);
  });
});
