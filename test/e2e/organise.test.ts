/**
 * Pin, archive, tags and folders: 500 conversations listed by every filter, page by page, in
 * order and complete; folders' system prompts reach the model; changes reach other devices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArchiveConversationDocument,
  ConversationEventsDocument,
  ConversationsDocument,
  CreateConversationDocument,
  CreateFolderDocument,
  DeleteConversationDocument,
  DeleteFolderDocument,
  FoldersDocument,
  GenerationEventsDocument,
  MoveConversationDocument,
  PinConversationDocument,
  RenameFolderDocument,
  SendMessageDocument,
  SetConversationTagsDocument,
  SetFolderSystemPromptDocument,
  type ConversationFilter,
} from '../../src/generated/graphql.ts';
import type { ConversationRecord } from '../../src/store/conversations.ts';
import { LabelRepository } from '../../src/store/labels.ts';
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

/** Every conversation id the filter lists, following the cursors with pages of `first`. */
async function listAll(filter: ConversationFilter | undefined, first: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null | undefined;
  do {
    const page = (await t.gql(ConversationsDocument, { first, after, filter }, user.accessToken)).data!.conversations;
    expect(page.edges.length).toBeLessThanOrEqual(first);
    ids.push(...page.edges.map((e) => rawIdOf(e.node.id)));
    after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
  } while (after);
  return ids;
}

describe('organising conversations', () => {
  it('lists 500 conversations by every filter, newest first, page by page, none lost or repeated', async () => {
    const organiser = t.app.services.conversations.organiser;
    const [work, home] = [
      (await t.gql(CreateFolderDocument, { name: 'Work' }, user.accessToken)).data!.createFolder,
      (await t.gql(CreateFolderDocument, { name: 'Home', systemPrompt: 'Answer briefly.' }, user.accessToken)).data!.createFolder,
    ];
    const records: ConversationRecord[] = [];
    for (let i = 0; i < 500; i++) {
      let record = await t.app.services.conversations.create(user.userId, { title: `Conversation ${i}` });
      // Through the service, as the mutations do: 500 × several HTTP requests would only cost time.
      if (i % 7 === 0) record = await organiser.pin(user.userId, record.conversationId, true);
      if (i % 5 === 0) record = await organiser.archive(user.userId, record.conversationId, true);
      if (i % 2 === 0) record = await organiser.setTags(user.userId, record.conversationId, ['even', ...(i % 50 === 0 ? ['a#b'] : [])]);
      if (i % 3 !== 2) record = await organiser.move(user.userId, record.conversationId, rawIdOf(i % 3 === 0 ? work.id : home.id));
      records.push(record);
    }
    const expected = (keep: (c: ConversationRecord) => boolean) => records.filter(keep).map((c) => c.conversationId).reverse();
    const cases: [ConversationFilter | undefined, (c: ConversationRecord) => boolean][] = [
      [undefined, (c) => !c.archived],
      [{ archived: true }, (c) => Boolean(c.archived)],
      [{ pinned: true }, (c) => Boolean(c.pinned) && !c.archived],
      [{ pinned: false }, (c) => !c.pinned && !c.archived],
      [{ pinned: true, archived: true }, (c) => Boolean(c.pinned && c.archived)],
      [{ tag: 'even' }, (c) => Boolean(c.tags?.includes('even')) && !c.archived],
      [{ tag: 'a' }, () => false], // a prefix of another tag's entries ("a#b") is not that tag
      [{ tag: 'a#b', archived: true }, (c) => Boolean(c.tags?.includes('a#b') && c.archived)],
      [{ folderId: work.id }, (c) => c.folderId === rawIdOf(work.id) && !c.archived],
      [{ folderId: home.id, tag: 'even', pinned: true }, (c) => c.folderId === rawIdOf(home.id) && Boolean(c.tags?.includes('even') && c.pinned) && !c.archived],
    ];
    for (const [filter, keep] of cases) {
      expect(await listAll(filter, 37), JSON.stringify(filter)).toEqual(expected(keep));
    }
    expect(await listAll(undefined, 100)).toHaveLength(400);

    // A folder deleted: its conversations move out of it, none is deleted.
    expect((await t.gql(DeleteFolderDocument, { id: work.id }, user.accessToken)).data!.deleteFolder).toBe(work.id);
    expect((await t.gql(FoldersDocument, {}, user.accessToken)).data!.folders.map((f) => f.name)).toEqual(['Home']);
    expect(errorCodes(await t.gql(ConversationsDocument, { filter: { folderId: work.id } }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect(await listAll(undefined, 100)).toHaveLength(400);
    const moved = (await t.gql(ConversationsDocument, { first: 3 }, user.accessToken)).data!.conversations.edges.map((e) => e.node);
    expect(moved.every((c) => c.folder?.id !== work.id)).toBe(true);

    // A deleted conversation leaves no entry behind in any view.
    const pinned = records.find((c) => c.pinned && !c.archived && c.tags?.length)!;
    await t.gql(DeleteConversationDocument, { id: pinned.conversationId }, user.accessToken);
    for (const view of [{ kind: 'PINNED' } as const, { kind: 'TAG', tag: 'even' } as const]) {
      const { ids } = await new LabelRepository(t.infra.dynamo).inView(user.userId, view, 500);
      expect(ids).not.toContain(pinned.conversationId);
    }
  }, 120_000);

  it('changes through the mutations, each heard by the other devices as UPDATED', async () => {
    const id = (await t.gql(CreateConversationDocument, { input: { title: 'Organise me' } }, user.accessToken)).data!.createConversation.id;
    const folder = (await t.gql(CreateFolderDocument, { name: '  Projects ' }, user.accessToken)).data!.createFolder;
    expect(folder.name).toBe('Projects');
    const client = wsClient(t.url, user.accessToken);
    const kinds: string[] = [];
    let done: () => void;
    const fourth = new Promise<void>((resolve) => (done = resolve));
    const stop = client.subscribe(
      { query: (await import('graphql')).print(ConversationEventsDocument), variables: { id } },
      {
        next: (result) => {
          kinds.push((result.data as { conversationEvents: { kind: string } }).conversationEvents.kind);
          if (kinds.length === 4) done();
        },
        error: () => {},
        complete: () => {},
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await t.gql(PinConversationDocument, { id, pinned: true }, user.accessToken)).data!.pinConversation.pinned).toBe(true);
    expect((await t.gql(SetConversationTagsDocument, { id, tags: ['b', ' a ', 'b'] }, user.accessToken)).data!.setConversationTags.tags).toEqual(['b', 'a']);
    expect((await t.gql(MoveConversationDocument, { id, folderId: folder.id }, user.accessToken)).data!.moveConversation.folder).toEqual({ id: folder.id, name: 'Projects' });
    expect((await t.gql(ArchiveConversationDocument, { id, archived: true }, user.accessToken)).data!.archiveConversation.archived).toBe(true);
    await fourth;
    expect(kinds).toEqual(['UPDATED', 'UPDATED', 'UPDATED', 'UPDATED']);
    stop();
    await client.dispose();
    const out = (await t.gql(MoveConversationDocument, { id, folderId: null }, user.accessToken)).data!.moveConversation;
    expect(out).toMatchObject({ folder: null, pinned: true, archived: true, tags: ['b', 'a'] });
    expect((await t.gql(RenameFolderDocument, { id: folder.id, name: 'Renamed' }, user.accessToken)).data!.renameFolder.name).toBe('Renamed');
  });

  it('gives the model a folder’s system prompt for its conversations that have none', async () => {
    const folder = (await t.gql(CreateFolderDocument, { name: 'Terse', systemPrompt: 'Answer in one word.' }, user.accessToken)).data!.createFolder;
    const own = (await t.gql(CreateConversationDocument, { input: { title: 'Own prompt', systemPrompt: 'Be verbose.' } }, user.accessToken)).data!.createConversation.id;
    const bare = (await t.gql(CreateConversationDocument, { input: { title: 'No prompt' } }, user.accessToken)).data!.createConversation.id;
    for (const id of [own, bare]) await t.gql(MoveConversationDocument, { id, folderId: folder.id }, user.accessToken);
    const systemOf = async (conversationId: string) => {
      const sent = (await t.gql(SendMessageDocument, { input: { conversationId, content: 'Hello', params: { maxTokens: 2 } } }, user.accessToken)).data!.sendMessage;
      const client = wsClient(t.url, user.accessToken);
      await collectSubscription(client, GenerationEventsDocument, { id: sent.id, after: 0 });
      await client.dispose();
      return captured.lastChat()[0];
    };
    expect(await systemOf(bare)).toEqual({ role: 'system', content: 'Answer in one word.' });
    expect(await systemOf(own)).toEqual({ role: 'system', content: 'Be verbose.' });
    const changed = await t.gql(SetFolderSystemPromptDocument, { id: folder.id, systemPrompt: 'Answer in French.' }, user.accessToken);
    expect(changed.data!.setFolderSystemPrompt.systemPrompt).toBe('Answer in French.');
    expect(await systemOf(bare)).toEqual({ role: 'system', content: 'Answer in French.' });
    expect((await t.gql(SetFolderSystemPromptDocument, { id: folder.id, systemPrompt: null }, user.accessToken)).data!.setFolderSystemPrompt.systemPrompt).toBeNull();
    expect((await systemOf(bare))?.role).toBe('user');
  });

  it('refuses bad tags, names and folders', async () => {
    const id = (await t.gql(CreateConversationDocument, {}, user.accessToken)).data!.createConversation.id;
    const tags = (values: string[]) => t.gql(SetConversationTagsDocument, { id, tags: values }, user.accessToken);
    expect(errorCodes(await tags(Array.from({ length: 11 }, (_, i) => `t${i}`)))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await tags(['x'.repeat(33)]))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await tags(['  ']))).toEqual(['BAD_USER_INPUT']);
    expect((await tags(Array.from({ length: 10 }, (_, i) => `t${i}`))).data!.setConversationTags.tags).toHaveLength(10);
    expect(errorCodes(await t.gql(CreateFolderDocument, { name: ' ' }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(CreateFolderDocument, { name: 'x', systemPrompt: 'y'.repeat(9000) }, user.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(MoveConversationDocument, { id, folderId: '01J0000000000000000000000Z' }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(RenameFolderDocument, { id: 'nope', name: 'x' }, user.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(PinConversationDocument, { id: 'nope', pinned: true }, user.accessToken))).toEqual(['NOT_FOUND']);
  });
});
