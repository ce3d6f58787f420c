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
import type { MessageRecord, MessageRepository } from '../store/messages.ts';
import { viewsOf, type LabelRepository } from '../store/labels.ts';
import { MessageTree } from './branches.ts';
import { ConversationOrganiser, type ConversationFilter } from './organiser.ts';
import { ConversationShares } from './shares.ts';
import type { ShareRepository } from '../store/shares.ts';
import type { ConversationEvents } from './events.ts';

export const MAX_TITLE_LENGTH = 200;
export const MAX_SYSTEM_PROMPT_LENGTH = 8_000;

/** Reads one of the user's conversations by id (a request's DataLoader batches these). */
export type ConversationReader = (conversationId: string) => Promise<ConversationRecord | undefined>;

export interface ConversationServiceDeps {
  conversations: ConversationRepository;
  messages: MessageRepository;
  labels: LabelRepository;
  shares: ShareRepository;
  /** PUBLIC_URL, for share links. */
  publicUrl: string;
  events: ConversationEvents;
  audit: AuditLog;
  maxMessageChars: number;
}

export class ConversationService {
  /** Pin, archive, tags, folders, and lists by them. */
  readonly organiser: ConversationOrganiser;
  /** Read-only links to a snapshot of the active branch. */
  readonly shares: ConversationShares;

  constructor(private readonly deps: ConversationServiceDeps) {
    this.organiser = new ConversationOrganiser({
      conversations: deps.conversations,
      labels: deps.labels,
      events: deps.events,
      own: (userId, conversationId) => this.own(userId, conversationId),
      maxSystemPromptLength: MAX_SYSTEM_PROMPT_LENGTH,
    });
    this.shares = new ConversationShares({
      shares: deps.shares,
      own: (userId, conversationId) => this.own(userId, conversationId),
      branch: (conversation) => this.branch(conversation),
      publicUrl: deps.publicUrl,
    });
  }

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

  /** The user's conversations, newest first; archived ones only when the filter asks for them. */
  list(userId: string, page: { first?: number | null; after?: string | null }, filter: ConversationFilter = {}) {
    return this.organiser.list(userId, filter, page);
  }

  /** The system prompt the model is given: the conversation's own, else its folder's. */
  async systemPromptOf(conversation: ConversationRecord): Promise<string | undefined> {
    if (conversation.systemPrompt || !conversation.folderId) return conversation.systemPrompt;
    return (await this.deps.labels.folder(conversation.userId, conversation.folderId))?.systemPrompt;
  }

  /**
   * A new conversation. Without a title it gets `fallbackTitle` (default "New conversation") for
   * now, and the model's title after its first reply.
   */
  create(userId: string, input: { title?: string | null; systemPrompt?: string | null }, fallbackTitle = 'New conversation'): Promise<ConversationRecord> {
    const systemPrompt = checkSystemPrompt(input.systemPrompt);
    if (input.title == null) return this.deps.conversations.create(userId, { title: checkTitle(fallbackTitle), systemPrompt, titleSource: 'auto' });
    return this.deps.conversations.create(userId, { title: checkTitle(input.title), systemPrompt });
  }

  /** Whether the model should title the conversation now: once, and only while its title is the automatic one. */
  claimAutoTitle(userId: string, conversationId: string): Promise<boolean> {
    return this.deps.conversations.claimAutoTitle(userId, conversationId);
  }

  /** The model's title, unless the user titled the conversation meanwhile; other devices hear of it. */
  async setAutoTitle(userId: string, conversationId: string, title: string): Promise<void> {
    const updated = await this.deps.conversations.setAutoTitle(userId, conversationId, checkTitle(title));
    if (updated) this.deps.events.renamed(updated);
  }

  async rename(userId: string, conversationId: string, title: string): Promise<ConversationRecord> {
    const newTitle = checkTitle(title);
    const updated = isId(conversationId) ? await this.deps.conversations.update(userId, conversationId, { title: newTitle, titleSource: 'user' }) : undefined;
    if (!updated) throw notFound('Conversation');
    this.deps.events.renamed(updated);
    return updated;
  }

  /** Deletes the conversation and every message in it. */
  async delete(actor: AuditFields & { userId: string }, conversationId: string): Promise<void> {
    const conversation = await this.own(actor.userId, conversationId);
    // Links first: a deleted conversation must not stay readable, even if deleting stops half-way.
    await this.shares.revokeAllOf(actor.userId, conversationId);
    await this.deps.labels.setViews(actor.userId, conversationId, { remove: viewsOf(conversation) });
    if (!(await this.deps.conversations.delete(actor.userId, conversationId))) throw notFound('Conversation');
    this.deps.audit('conversation.deleted', { ...actor, conversationId });
    this.deps.events.deleted(actor.userId, conversationId);
  }

  async import(actor: AuditFields & { userId: string }, data: unknown): Promise<ConversationRecord> {
    const { conversations, messages, maxMessageChars } = this.deps;
    const conversation = await importConversation(
      { conversations, messages, maxMessageChars, maxTitleLength: MAX_TITLE_LENGTH, maxSystemPromptLength: MAX_SYSTEM_PROMPT_LENGTH },
      actor.userId,
      data,
    );
    this.deps.audit('conversation.imported', { ...actor, conversationId: conversation.conversationId });
    this.deps.events.updated(conversation);
    return conversation;
  }

  /**
   * A new message is stored: the conversation's count and time move on, other devices hear of it
   * and, with `activate`, the active branch now ends at it. Undefined when the conversation is
   * gone (deleted while a reply was generated).
   */
  async messageAdded(userId: string, conversationId: string, messageId: string, activate = false): Promise<ConversationRecord | undefined> {
    const touched = await this.deps.conversations.touch(userId, conversationId, 1, { countedId: messageId, ...(activate ? { activeLeafId: messageId } : {}) });
    if (touched) this.deps.events.messageAdded(touched, messageId);
    return touched;
  }

  /**
   * A reply to `answering` is stored: it ends the active branch if that still ended at the
   * message it answers (a user who switched branches meanwhile stays where they went).
   */
  async replyAdded(userId: string, conversationId: string, replyId: string, answering: string): Promise<ConversationRecord | undefined> {
    const touched = await this.messageAdded(userId, conversationId, replyId);
    const moved = await this.deps.conversations.moveActiveLeaf(userId, conversationId, replyId, answering);
    if (moved) this.deps.events.updated(moved);
    return moved ?? touched;
  }

  /** Makes `messageId` the end of the active branch, as it is (no descent to a leaf below it). */
  async showBranchTo(userId: string, conversationId: string, messageId: string): Promise<ConversationRecord | undefined> {
    const updated = await this.deps.conversations.update(userId, conversationId, { activeLeafId: messageId });
    if (updated) this.deps.events.updated(updated);
    return updated;
  }

  /** The conversation's messages as a tree of branches (ids and parents only). */
  async tree(conversationId: string): Promise<MessageTree> {
    return new MessageTree(await this.deps.messages.tree(conversationId));
  }

  /** Where the active branch ends: the leaf chosen last, else the newest message. */
  activeLeaf(conversation: ConversationRecord, tree: MessageTree): string | undefined {
    return conversation.activeLeafId && tree.has(conversation.activeLeafId) ? conversation.activeLeafId : tree.newest;
  }

  /**
   * Shows and continues the branch through `messageId`: to its newest leaf when it has replies
   * below it. NOT_FOUND for a message not in the user's conversation.
   */
  async setActiveLeaf(userId: string, conversationId: string, messageId: string, read?: ConversationReader): Promise<ConversationRecord> {
    const conversation = await this.own(userId, conversationId, read);
    const tree = await this.tree(conversation.conversationId);
    if (!tree.has(messageId)) throw notFound('Message');
    const updated = await this.showBranchTo(userId, conversation.conversationId, tree.newestLeafUnder(messageId));
    if (!updated) throw notFound('Conversation');
    return updated;
  }

  /** The messages from the root to `leafId` (default: the active leaf), oldest first. */
  async branch(conversation: ConversationRecord, leafId?: string | null): Promise<MessageRecord[]> {
    const tree = await this.tree(conversation.conversationId);
    if (leafId != null && !tree.has(leafId)) throw notFound('Message');
    const leaf = leafId ?? this.activeLeaf(conversation, tree);
    return leaf ? this.deps.messages.getMany(conversation.conversationId, tree.pathTo(leaf)) : [];
  }

  /**
   * A new conversation holding copies of the messages from the root to `messageId` (under new
   * ids, the same texts and attachments), with the same title and system prompt.
   */
  async fork(userId: string, messageId: string): Promise<ConversationRecord> {
    const message = isId(messageId) ? await this.deps.messages.findById(messageId) : undefined;
    if (!message || message.userId !== userId) throw notFound('Message');
    const source = await this.own(userId, message.conversationId);
    const path = await this.branch(source, messageId);
    const fork = await this.deps.conversations.create(userId, { title: source.title, systemPrompt: source.systemPrompt });
    let parentId: string | undefined;
    for (const { messageId: _id, conversationId: _c, createdAt: _at, parentId: _p, generationId: _g, ...copied } of path) {
      parentId = (await this.deps.messages.add({ ...copied, conversationId: fork.conversationId, ...(parentId ? { parentId } : {}) })).messageId;
    }
    return (await this.deps.conversations.touch(userId, fork.conversationId, path.length, { activeLeafId: parentId })) ?? fork;
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
