/**
 * Conversations as the API offers them: validated input, ownership checked here and nowhere
 * else (another user's conversation is NOT_FOUND), change events for other devices and the
 * audit trail. Resolvers and the generation service go through it.
 */
import { badInput, notFound } from '../errors.ts';
import { importConversation } from '../export/import.ts';
import type { AuditFields, AuditLog } from '../observability/audit.ts';
import type { ConversationRecord, ConversationRepository } from '../store/conversations.ts';
import { isId } from '../store/ids.ts';
import type { MessageRepository } from '../store/messages.ts';
import type { ConversationEvents } from './events.ts';

export const MAX_TITLE_LENGTH = 200;
export const MAX_SYSTEM_PROMPT_LENGTH = 8_000;

/** Reads one of the user's conversations by id (a request's DataLoader batches these). */
export type ConversationReader = (conversationId: string) => Promise<ConversationRecord | undefined>;

export interface ConversationServiceDeps {
  conversations: ConversationRepository;
  messages: MessageRepository;
  events: ConversationEvents;
  audit: AuditLog;
  maxMessageChars: number;
}

export class ConversationService {
  constructor(private readonly deps: ConversationServiceDeps) {}

  /** The user's conversation, or NOT_FOUND: for a malformed id, a deleted one or someone else's. */
  async own(userId: string, conversationId: string, read?: ConversationReader): Promise<ConversationRecord> {
    const conversation = isId(conversationId)
      ? await (read ? read(conversationId) : this.deps.conversations.get(userId, conversationId))
      : undefined;
    if (!conversation) throw notFound('Conversation');
    return conversation;
  }

  /** The user's conversations by id, in the order asked (undefined for those that are not theirs). */
  getMany(userId: string, conversationIds: readonly string[]) {
    return this.deps.conversations.getMany(conversationIds.map((conversationId) => ({ userId, conversationId })));
  }

  list(userId: string, page: { first?: number | null; after?: string | null }) {
    return this.deps.conversations.list(userId, page);
  }

  create(userId: string, input: { title?: string | null; systemPrompt?: string | null }): Promise<ConversationRecord> {
    return this.deps.conversations.create(userId, { title: checkTitle(input.title ?? 'New conversation'), systemPrompt: checkSystemPrompt(input.systemPrompt) });
  }

  async rename(userId: string, conversationId: string, title: string): Promise<ConversationRecord> {
    const newTitle = checkTitle(title);
    const updated = isId(conversationId) ? await this.deps.conversations.update(userId, conversationId, { title: newTitle }) : undefined;
    if (!updated) throw notFound('Conversation');
    this.deps.events.renamed(updated);
    return updated;
  }

  /** Deletes the conversation and every message in it. */
  async delete(actor: AuditFields & { userId: string }, conversationId: string): Promise<void> {
    const deleted = isId(conversationId) && (await this.deps.conversations.delete(actor.userId, conversationId));
    if (!deleted) throw notFound('Conversation');
    this.deps.audit('conversation.deleted', { ...actor, conversationId });
    this.deps.events.deleted(conversationId);
  }

  async import(actor: AuditFields & { userId: string }, data: unknown): Promise<ConversationRecord> {
    const { conversations, messages, maxMessageChars } = this.deps;
    const conversation = await importConversation(
      { conversations, messages, maxMessageChars, maxTitleLength: MAX_TITLE_LENGTH, maxSystemPromptLength: MAX_SYSTEM_PROMPT_LENGTH },
      actor.userId,
      data,
    );
    this.deps.audit('conversation.imported', { ...actor, conversationId: conversation.conversationId });
    return conversation;
  }

  /**
   * A new message is stored: the conversation's count and time move on, and other devices hear
   * of it. Undefined when the conversation is gone (deleted while a reply was generated).
   */
  async messageAdded(userId: string, conversationId: string, messageId: string): Promise<ConversationRecord | undefined> {
    const touched = await this.deps.conversations.touch(userId, conversationId, 1);
    if (touched) this.deps.events.messageAdded(touched, messageId);
    return touched;
  }

  /** The user's conversation's events from now on (NOT_FOUND for anyone else's). */
  async follow(userId: string, conversationId: string, read?: ConversationReader) {
    const conversation = await this.own(userId, conversationId, read);
    return this.deps.events.subscribe(conversation.conversationId);
  }
}

function checkTitle(value: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_TITLE_LENGTH) {
    throw badInput(`title must be 1 to ${MAX_TITLE_LENGTH} characters`, { argument: 'title' });
  }
  return trimmed;
}

function checkSystemPrompt(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value.length > MAX_SYSTEM_PROMPT_LENGTH) {
    throw badInput(`systemPrompt must be at most ${MAX_SYSTEM_PROMPT_LENGTH} characters`, { argument: 'systemPrompt' });
  }
  return value;
}
