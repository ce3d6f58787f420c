/**
 * The export format: everything needed to re-create a conversation (`importConversation`), in a
 * versioned JSON document. The zod schema is the one definition of what an import accepts.
 */
import { z } from 'zod';
import type { ConversationRecord } from '../store/conversations.ts';
import { MessageRepository, type MessageRecord } from '../store/messages.ts';

export const EXPORT_FORMAT = 'gptql.conversation';
export const EXPORT_VERSION = 1;
/** Largest conversation an import accepts; an export of a longer one cannot be imported whole. */
export const MAX_IMPORT_MESSAGES = 2_000;

const isoDate = z.string().datetime({ offset: true });

const ExportedMessage = z.object({
  id: z.string().min(1).max(64),
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
  parentId: z.string().min(1).max(64).nullish(),
  model: z.string().max(200).nullish(),
  promptTokens: z.number().int().min(0).nullish(),
  completionTokens: z.number().int().min(0).nullish(),
  finishReason: z.string().max(32).nullish(),
  interrupted: z.boolean().nullish(),
  fileIds: z.array(z.string()).nullish(),
  createdAt: isoDate,
});

export const ConversationExportSchema = z.object({
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  exportedAt: isoDate,
  conversation: z.object({
    id: z.string(),
    title: z.string(),
    systemPrompt: z.string().nullish(),
    createdAt: isoDate,
    updatedAt: isoDate,
  }),
  messages: z.array(ExportedMessage).max(MAX_IMPORT_MESSAGES),
});

export type ConversationExport = z.infer<typeof ConversationExportSchema>;
export type ExportedMessage = z.infer<typeof ExportedMessage>;

/** Every message of the conversation, oldest first, read page by page. */
export async function allMessages(messages: MessageRepository, conversationId: string): Promise<MessageRecord[]> {
  const all: MessageRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await messages.list(conversationId, { first: 100, after });
    all.push(...page.items);
    if (!page.hasNextPage || page.items.length === 0) return all;
    after = MessageRepository.cursorOf(page.items.at(-1)!);
  }
}

export function toExport(conversation: ConversationRecord, messages: readonly MessageRecord[]): ConversationExport {
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: new Date().toISOString(),
    conversation: {
      id: conversation.conversationId,
      title: conversation.title,
      systemPrompt: conversation.systemPrompt ?? null,
      createdAt: conversation.createdAt,
      updatedAt: conversation.updatedAt,
    },
    messages: messages.map((m) => ({
      id: m.messageId,
      role: m.role,
      content: m.content,
      parentId: m.parentId ?? null,
      model: m.model ?? null,
      promptTokens: m.promptTokens ?? null,
      completionTokens: m.completionTokens ?? null,
      finishReason: m.finishReason ?? null,
      interrupted: m.interrupted ?? null,
      fileIds: m.fileIds ?? null,
      createdAt: m.createdAt,
    })),
  };
}
