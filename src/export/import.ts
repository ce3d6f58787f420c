/**
 * Re-creates a conversation from its JSON export under new ids, in the same order, with the same
 * roles, text and branches (parent links). Attachments are not carried: file ids name files of
 * the exporting account, which the importer may not own.
 */
import { badInput } from '../errors.ts';
import type { ConversationRecord, ConversationRepository } from '../store/conversations.ts';
import { newId } from '../store/ids.ts';
import type { MessageRecord, MessageRepository } from '../store/messages.ts';
import { ConversationExportSchema } from './conversation-export.ts';

export interface ImportDeps {
  conversations: ConversationRepository;
  messages: MessageRepository;
  maxMessageChars: number;
  maxTitleLength: number;
  maxSystemPromptLength: number;
}

export async function importConversation(deps: ImportDeps, userId: string, input: unknown): Promise<ConversationRecord> {
  const parsed = ConversationExportSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badInput(`Not a conversation export: ${issue.path.join('.') || 'document'}: ${issue.message}`, { argument: 'data' });
  }
  const data = parsed.data;
  const title = data.conversation.title.trim();
  if (title.length === 0 || title.length > deps.maxTitleLength) throw badInput(`title must be 1 to ${deps.maxTitleLength} characters`, { argument: 'data' });
  const systemPrompt = data.conversation.systemPrompt ?? undefined;
  if (systemPrompt && systemPrompt.length > deps.maxSystemPromptLength) throw badInput('systemPrompt is too long', { argument: 'data' });

  // Validate everything before writing anything: new ids, and parents that come earlier.
  const newIds = new Map<string, string>();
  const records: MessageRecord[] = [];
  for (const [index, message] of data.messages.entries()) {
    if (message.content.length > deps.maxMessageChars) throw badInput(`messages.${index}.content is longer than ${deps.maxMessageChars} characters`, { argument: 'data' });
    if (newIds.has(message.id)) throw badInput(`messages.${index}.id repeats an earlier id`, { argument: 'data' });
    const parentId = message.parentId ? newIds.get(message.parentId) : undefined;
    if (message.parentId && !parentId) throw badInput(`messages.${index}.parentId names no earlier message`, { argument: 'data' });
    const messageId = newId();
    newIds.set(message.id, messageId);
    records.push({
      conversationId: '',
      messageId,
      userId,
      role: message.role,
      content: message.content,
      parentId,
      model: message.model ?? undefined,
      promptTokens: message.promptTokens ?? undefined,
      completionTokens: message.completionTokens ?? undefined,
      finishReason: message.finishReason ?? undefined,
      interrupted: message.interrupted ?? undefined,
      createdAt: message.createdAt,
    });
  }

  const conversation = await deps.conversations.create(userId, { title, systemPrompt });
  try {
    for (const record of records) await deps.messages.putOnce({ ...record, conversationId: conversation.conversationId });
    return (await deps.conversations.touch(userId, conversation.conversationId, records.length)) ?? conversation;
  } catch (error) {
    // No half-imported conversation is left: deleting it removes the messages written so far.
    await deps.conversations.delete(userId, conversation.conversationId).catch(() => {});
    throw error;
  }
}
