import { describe, expect, it } from 'vitest';
import type { ConversationRecord } from '../store/conversations.ts';
import type { MessageRecord } from '../store/messages.ts';
import { branchMessages, titleFrom } from './conversation-context.ts';

const conversation: ConversationRecord = {
  userId: 'u',
  conversationId: 'c',
  title: 't',
  systemPrompt: 'Be brief.',
  createdAt: '',
  updatedAt: '',
};
const message = (messageId: string, role: MessageRecord['role'], content: string, parentId?: string): MessageRecord => ({
  conversationId: 'c',
  messageId,
  userId: 'u',
  role,
  content,
  parentId,
  createdAt: '',
});

describe('conversation context', () => {
  it('follows the branch to the answered message: system prompt first, siblings and later turns left out, none twice', () => {
    const messages = [
      message('1', 'user', 'Hi'),
      message('2', 'assistant', 'Hello', '1'),
      message('3', 'user', 'Tell a joke', '2'),
      message('4', 'assistant', 'first try', '3'),
      message('5', 'assistant', 'second try (regenerated)', '3'),
      message('6', 'user', 'Another one', '5'),
      message('7', 'user', 'edited: Another joke', '5'),
    ];
    expect(branchMessages(conversation, messages, '7')).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'Tell a joke' },
      { role: 'assistant', content: 'second try (regenerated)' },
      { role: 'user', content: 'edited: Another joke' },
    ]);
  });

  it('stops at a parent cycle or a message older than the window read', () => {
    const looped = [message('a', 'user', 'A', 'b'), message('b', 'assistant', 'B', 'a')];
    expect(branchMessages({ ...conversation, systemPrompt: undefined }, looped, 'a')).toEqual([
      { role: 'assistant', content: 'B' },
      { role: 'user', content: 'A' },
    ]);
    expect(branchMessages({ ...conversation, systemPrompt: undefined }, [message('x', 'user', 'X', 'gone')], 'x')).toEqual([{ role: 'user', content: 'X' }]);
  });

  it('titles a conversation from the first line of its first message', () => {
    expect(titleFrom('  What is the\n capital of France?')).toBe('What is the');
    expect(titleFrom('word '.repeat(30))).toMatch(/^(word ){10,}.*…$/);
    expect(titleFrom('word '.repeat(30)).length).toBeLessThanOrEqual(61);
  });
});
