/**
 * What the model reads for a reply: the conversation's system prompt and the branch of messages
 * that leads to the message being answered (following parentId), oldest first. Siblings from
 * edits and regenerations are not on the branch, so no message is ever seen twice.
 */
import type { ChatMessage } from '../inference/prompt.ts';
import type { ConversationRecord } from '../store/conversations.ts';
import type { MessageRecord } from '../store/messages.ts';

export function branchMessages(conversation: ConversationRecord, recent: readonly MessageRecord[], leafId: string): ChatMessage[] {
  const byId = new Map(recent.map((m) => [m.messageId, m]));
  const branch: MessageRecord[] = [];
  const visited = new Set<string>();
  for (let id: string | undefined = leafId; id && !visited.has(id); id = byId.get(id)?.parentId) {
    visited.add(id);
    const message = byId.get(id);
    if (!message) break; // older than the window read: the engine would cut it anyway
    branch.push(message);
  }
  branch.reverse();
  const messages: ChatMessage[] = branch
    .filter((m) => m.content.length > 0)
    .map((m) => ({ role: m.role, content: m.content }));
  return conversation.systemPrompt ? [{ role: 'system', content: conversation.systemPrompt }, ...messages] : messages;
}

/** A title from the first message: its first line, cut at a word boundary. */
export function titleFrom(content: string, max = 60): string {
  const line = content.trim().split('\n')[0]!.replace(/\s+/g, ' ');
  if (line.length <= max) return line || 'New conversation';
  const cut = line.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
