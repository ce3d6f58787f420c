/**
 * A worker that died after storing a reply but before streaming the generation's end: the job
 * comes back, and the worker that takes it must end the stream with the reply already stored,
 * not generate more text that the stored message would then lack.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { newId } from '../../src/store/ids.ts';
import type { StreamEvent } from '../../src/streams/events.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all' });
});
afterAll(() => t.stop());

describe('a redelivered generation whose reply was already stored', () => {
  it('ends with the stored reply and runs no model', async () => {
    const { infra } = t;
    const user = await t.newUser();
    const conversation = await infra.conversations.create(user.userId, { title: 'died after storing' });
    const question = await infra.messages.add({ conversationId: conversation.conversationId, userId: user.userId, role: 'user', content: 'Say hello.' });
    const [generationId, replyMessageId] = [newId(), newId()];
    const enqueuedAt = new Date().toISOString();
    await infra.streams.create({ generationId, userId: user.userId, conversationId: conversation.conversationId, userMessageId: question.messageId, replyMessageId, status: 'RUNNING', createdAt: enqueuedAt });

    // What the first worker left: every token streamed, the reply stored, no end event.
    const first = await infra.streams.claim(generationId, 'the worker that died', 60_000);
    const deltas = ['Hel', 'lo', ' there'];
    for (const [i, delta] of deltas.entries()) await infra.streams.append(generationId, first, { kind: 'token', index: i + 1, delta });
    await infra.messages.putOnce({
      conversationId: conversation.conversationId,
      messageId: replyMessageId,
      userId: user.userId,
      role: 'assistant',
      content: deltas.join(''),
      parentId: question.messageId,
      model: 'default',
      promptTokens: 5,
      completionTokens: 3,
      finishReason: 'length',
      generationId,
      createdAt: new Date().toISOString(),
    });

    const generate = vi.spyOn(t.worker!.engines.get('default')!, 'generate');
    await infra.queue.enqueue({ kind: 'conversation-reply', generationId, userId: user.userId, enqueuedAt, params: { maxTokens: 8 }, conversationId: conversation.conversationId, parentMessageId: question.messageId, replyMessageId });
    const events: StreamEvent[] = [];
    for await (const event of infra.streams.subscribe(generationId, 0)) events.push(event);

    expect(events.map((event) => event.index)).toEqual([1, 2, 3, 4]);
    expect(events.at(-1)).toMatchObject({ kind: 'completed', text: 'Hello there', messageId: replyMessageId, finishReason: 'length', usage: { promptTokens: 5, completionTokens: 3 } });
    expect(generate).not.toHaveBeenCalled();
    expect(await infra.streams.get(generationId)).toMatchObject({ status: 'COMPLETED' });
    const stored = await infra.messages.recent(conversation.conversationId);
    expect(stored.filter((message) => message.role === 'assistant').map((message) => message.content)).toEqual(['Hello there']);
  });
});
