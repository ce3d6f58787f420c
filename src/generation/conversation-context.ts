/**
 * What the model reads for a reply: the conversation's system prompt and the branch of messages
 * that leads to the message being answered (following parentId), oldest first. Siblings from
 * edits and regenerations are not on the branch, so no message is ever seen twice.
 */
import type { ChatMessage } from '../inference/prompt.ts';
import type { ConversationRecord } from '../store/conversations.ts';
import type { MessageRecord } from '../store/messages.ts';

/** The messages on the branch that ends at `leafId`, oldest first. */
export function branchRecords(recent: readonly MessageRecord[], leafId: string): MessageRecord[] {
  const byId = new Map(recent.map((m) => [m.messageId, m]));
  const branch: MessageRecord[] = [];
  const visited = new Set<string>();
  for (let id: string | undefined = leafId; id && !visited.has(id); id = byId.get(id)?.parentId) {
    visited.add(id);
    const message = byId.get(id);
    if (!message) break; // older than the window read: the engine would cut it anyway
    branch.push(message);
  }
  return branch.reverse();
}

/**
 * The model of the newest reply on the branch that ends at `leafId`: a conversation goes on with
 * the model that last answered in it. Undefined when the branch (within `recent`) has none.
 */
export function lastReplyModel(recent: readonly MessageRecord[], leafId: string): string | undefined {
  return branchRecords(recent, leafId)
    .reverse()
    .find((message) => message.role === 'assistant' && message.model)?.model;
}

/**
 * The chat the model reads. `attachments` maps a message id to the text of its attached files
 * (see `attachmentBlock`), which is given to the model as part of that message.
 */
export function branchMessages(
  conversation: ConversationRecord,
  recent: readonly MessageRecord[],
  leafId: string,
  attachments: ReadonlyMap<string, string> = new Map(),
): ChatMessage[] {
  const messages: ChatMessage[] = branchRecords(recent, leafId)
    .filter((m) => m.content.length > 0)
    .map((m) => {
      const attached = attachments.get(m.messageId);
      return { role: m.role, content: attached ? `${m.content}\n\n${attached}` : m.content };
    });
  return conversation.systemPrompt ? [{ role: 'system', content: conversation.systemPrompt }, ...messages] : messages;
}

export interface AttachedFile {
  name: string;
  contentType: string;
  size: number;
  /** Absent for files the model cannot read (images, PDF). */
  text?: string;
  truncated?: boolean;
}

/**
 * Files as the model sees them, after the message: each text file between markers, and a cut one
 * says that it was cut, so the model does not take the excerpt for the whole file.
 */
export function attachmentBlock(files: readonly AttachedFile[]): string {
  return files
    .map((file) => {
      if (file.text === undefined) return `[Attached file "${file.name}" (${file.contentType}, ${file.size} bytes): not readable as text, not shown]`;
      const note = file.truncated
        ? ` — truncated: only the first ${file.text.length} characters of this ${file.size}-byte file are shown`
        : '';
      return `[Attached file "${file.name}"${note}]\n${file.text}\n[End of "${file.name}"${file.truncated ? ' (truncated)' : ''}]`;
    })
    .join('\n\n');
}

/** A title from the first message: its first line, cut at a word boundary. */
export function titleFrom(content: string, max = 60): string {
  const line = content.trim().split('\n')[0]!.replace(/\s+/g, ' ');
  if (line.length <= max) return line || 'New conversation';
  const cut = line.slice(0, max);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
