/**
 * Share links: a snapshot of the active branch, readable by anyone with the link (GraphQL and
 * `GET /share/{id}`), nothing more than that branch's texts, gone at once when revoked or when
 * the conversation is deleted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeleteConversationDocument,
  EditMessageDocument,
  RevokeShareDocument,
  SendMessageDocument,
  ShareConversationDocument,
  SharedConversationDocument,
  SharesDocument,
} from '../../src/generated/graphql.ts';
import { isShareId } from '../../src/store/shares.ts';
import { SHARE_PAGE_CSP } from '../../src/web/share-page.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp({ PUBLIC_URL: 'https://chat.example.com' });
  user = await t.newUser();
});
afterAll(() => t.stop());

/** A conversation of stored messages (no worker runs here): question, reply, and an edited question beside the first. */
async function conversationWithBranches() {
  const sent = (await t.gql(SendMessageDocument, { input: { content: 'What is <b>bold</b> & why?' } }, user.accessToken)).data!.sendMessage;
  const conversationId = sent.conversation!.id;
  const reply = await t.app.services.messages.add({ conversationId: rawIdOf(conversationId), userId: user.userId, role: 'assistant', content: 'It is <script>alert(1)</script> markup.', parentId: rawIdOf(sent.userMessage!.id) });
  await t.app.services.conversations.replyAdded(user.userId, rawIdOf(conversationId), reply.messageId, rawIdOf(sent.userMessage!.id));
  return { conversationId, question: sent.userMessage!, reply };
}

const read = (id: string) => t.gql(SharedConversationDocument, { id });

describe('share links', () => {
  it('shares the active branch as it is now, to anyone with the link, and nothing else', async () => {
    const { conversationId, reply } = await conversationWithBranches();
    const share = (await t.gql(ShareConversationDocument, { id: conversationId }, user.accessToken)).data!.shareConversation;
    const link = rawIdOf(share.id);
    expect(isShareId(link)).toBe(true);
    expect(Buffer.from(link, 'base64url')).toHaveLength(16); // 128 random bits
    expect(share.url).toBe(`https://chat.example.com/share/${link}`);

    // Later messages and another branch: not in the snapshot.
    await t.gql(SendMessageDocument, { input: { conversationId, content: 'A later question' } }, user.accessToken);
    const snapshot = (await read(share.id)).data!.sharedConversation;
    expect(snapshot.title).toBe('What is <b>bold</b> & why?');
    expect(snapshot.messages.map((m) => [m.role, m.content])).toEqual([
      ['USER', 'What is <b>bold</b> & why?'],
      ['ASSISTANT', reply.content],
    ]);
    const json = JSON.stringify((await t.gql(SharedConversationDocument, { id: share.id })).data);
    expect(json).not.toContain(user.email);

    // The page: escaped text, no script allowed, not cached.
    const response = await fetch(share.url.replace('https://chat.example.com', t.url));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toBe(SHARE_PAGE_CSP);
    expect(SHARE_PAGE_CSP).not.toContain('script-src');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const html = await response.text();
    expect(html).toContain('It is &lt;script&gt;alert(1)&lt;/script&gt; markup.');
    expect(html).toContain('What is &lt;b&gt;bold&lt;/b&gt; &amp; why?');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('A later question');

    // Listed, then revoked: gone at once, for GraphQL and the page alike.
    const listed = (await t.gql(SharesDocument, {}, user.accessToken)).data!.shares.edges.map((e) => e.node.id);
    expect(listed[0]).toBe(share.id);
    expect((await t.gql(RevokeShareDocument, { id: share.id }, user.accessToken)).data!.revokeShare).toBe(share.id);
    expect(errorCodes(await read(share.id))).toEqual(['NOT_FOUND']);
    expect((await fetch(`${t.url}/share/${rawIdOf(share.id)}`)).status).toBe(404);
    expect((await t.gql(SharesDocument, {}, user.accessToken)).data!.shares.edges.map((e) => e.node.id)).not.toContain(share.id);
  });

  it('shares the branch that is active, after an edit', async () => {
    const { conversationId, question } = await conversationWithBranches();
    const edit = (await t.gql(EditMessageDocument, { messageId: question.id, content: 'Better question' }, user.accessToken)).data!.editMessage;
    expect(edit.conversation!.activeLeafId).toBe(edit.userMessage!.id);
    const share = (await t.gql(ShareConversationDocument, { id: conversationId }, user.accessToken)).data!.shareConversation;
    expect((await read(share.id)).data!.sharedConversation.messages.map((m) => m.content)).toEqual(['Better question']);
  });

  it('revokes every link to a conversation when it is deleted', async () => {
    const { conversationId } = await conversationWithBranches();
    const shares = [
      (await t.gql(ShareConversationDocument, { id: conversationId }, user.accessToken)).data!.shareConversation,
      (await t.gql(ShareConversationDocument, { id: conversationId }, user.accessToken)).data!.shareConversation,
    ];
    expect(shares[0]!.id).not.toBe(shares[1]!.id);
    await t.gql(DeleteConversationDocument, { id: conversationId }, user.accessToken);
    for (const share of shares) {
      expect(errorCodes(await read(share.id))).toEqual(['NOT_FOUND']);
      expect((await fetch(`${t.url}/share/${rawIdOf(share.id)}`)).status).toBe(404);
    }
  });

  it('answers ids that are not links with NOT_FOUND and 404, and refuses another user’s revoke', async () => {
    const { conversationId } = await conversationWithBranches();
    const share = (await t.gql(ShareConversationDocument, { id: conversationId }, user.accessToken)).data!.shareConversation;
    for (const id of ['nope', 'A'.repeat(22), '%ZZ', `${rawIdOf(share.id)}x`]) {
      expect(errorCodes(await read(id))).toEqual(['NOT_FOUND']);
      expect((await fetch(`${t.url}/share/${id}`)).status).toBe(404);
    }
    const other = await t.newUser();
    expect(errorCodes(await t.gql(RevokeShareDocument, { id: share.id }, other.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(ShareConversationDocument, { id: conversationId }, other.accessToken))).toEqual(['NOT_FOUND']);
    expect((await read(share.id)).data!.sharedConversation.messages).toHaveLength(2);
  });
});
