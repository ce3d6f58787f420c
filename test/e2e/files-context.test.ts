/**
 * Files in the model's context: a text file attached to a message reaches the engine as part of
 * that message (watched on the real engine of a ROLE=all app), cut to FILE_CONTEXT_MAX_CHARS with
 * the cut stated; another user's file cannot be attached.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MessageAttachmentsDocument, SendMessageDocument } from '../../src/generated/graphql.ts';
import type { ChatMessage, PromptInput } from '../../src/inference/prompt.ts';
import { upload } from '../support/files-helpers.ts';
import { errorCodes, startTestApp, type TestApp } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';
import { GenerationEventsDocument } from '../../src/generated/graphql.ts';

let t: TestApp;
let user: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000', FILE_CONTEXT_MAX_CHARS: '300' });
  user = await t.newUser();
});
afterAll(() => t.stop());

async function finish(generationId: string) {
  const client = wsClient(t.url, user.accessToken);
  try {
    await collectSubscription(client, GenerationEventsDocument, { id: generationId, after: 0 });
  } finally {
    await client.dispose();
  }
}

describe('files in context', () => {
  it('gives the model the text of an attached file with the message, truncation stated', async () => {
    const short = (await upload(t, user.accessToken, Buffer.from('The lighthouse keeper is called Morwenna.'), 'keeper.txt')).data!.uploadFile;
    const long = (await upload(t, user.accessToken, Buffer.from(`START ${'wave '.repeat(200)}END-OF-FILE`), 'waves.md')).data!.uploadFile;
    const png = (await upload(t, user.accessToken, Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'), 'pic.png')).data!.uploadFile;
    const generate = vi.spyOn(t.worker!.engines.get('default')!, 'generate');

    const sent = await t.gql(SendMessageDocument, { input: { content: 'Who keeps the lighthouse?', fileIds: [short.id, long.id, png.id], params: { maxTokens: 4, seed: 1 } } }, user.accessToken);
    expect(sent.errors).toBeUndefined();
    await finish(sent.data!.sendMessage.id);

    const input = generate.mock.calls.at(-1)![0].input as PromptInput & { messages: ChatMessage[] };
    const last = input.messages.at(-1)!;
    expect(last.role).toBe('user');
    expect(last.content).toMatch(/^Who keeps the lighthouse\?\n\n\[Attached file "keeper.txt"\]\nThe lighthouse keeper is called Morwenna\.\n\[End of "keeper.txt"\]/);
    expect(last.content).toContain('[Attached file "waves.md" — truncated: only the first');
    expect(last.content).toContain('START wave');
    expect(last.content).not.toContain('END-OF-FILE');
    expect(last.content).toContain('[Attached file "pic.png" (image/png, ');

    const attachments = await t.gql(MessageAttachmentsDocument, { id: sent.data!.sendMessage.conversation!.id }, user.accessToken);
    expect(attachments.errors).toBeUndefined();
    const stored = attachments.data!.conversation;
    expect(stored.messages.edges[0]!.node.attachments.map((f) => f.id)).toEqual([short.id, long.id, png.id]);
  });

  it("refuses to attach another user's file, a missing one, or too many, and stores no message", async () => {
    const other = await t.newUser();
    const theirs = (await upload(t, other.accessToken, Buffer.from('private'), 'secret.txt')).data!.uploadFile;
    for (const fileIds of [[theirs.id], ['01ARZ3NDEKTSV4RRFFQ69G5FAV'], ['nope']]) {
      const response = await t.gql(SendMessageDocument, { input: { content: 'read this', fileIds } }, user.accessToken);
      expect(errorCodes(response)).toEqual(['NOT_FOUND']);
    }
    const many = await t.gql(SendMessageDocument, { input: { content: 'x', fileIds: Array.from({ length: 11 }, (_, i) => `01ARZ3NDEKTSV4RRFFQ69G5F${String(i).padStart(2, '0')}`) } }, user.accessToken);
    expect(errorCodes(many)).toEqual(['BAD_USER_INPUT']);
    expect((await t.app.services.conversations.list(user.userId, {})).items).toHaveLength(1);
  });
});
