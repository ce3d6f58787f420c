/**
 * Search over the signed-in user's own conversations. Search is per user by nature, so each API
 * process keeps the indexes of the users who search in memory (least recently used go first, within
 * SEARCH_INDEX_MAX_BYTES), builds one from DynamoDB on a user's first search, and keeps it
 * current from the user's conversation events, which reach every API process through the pub/sub.
 * An index that was evicted is simply built again.
 */
import { LRUCache } from 'lru-cache';
import type { ConversationEvent, ConversationEvents } from '../conversations/events.ts';
import type { ConversationService } from '../conversations/service.ts';
import { badInput } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { ConversationRecord } from '../store/conversations.ts';
import type { MessageRepository } from '../store/messages.ts';
import { decodeCursor, encodeCursor, pageSize, type PageRequest } from '../store/pagination.ts';
import { snippet } from './snippet.ts';
import { UserIndex, titleDocumentId, type IndexHit } from './user-index.ts';

export const MAX_QUERY_LENGTH = 200;

export interface SearchHit {
  conversation: ConversationRecord;
  /** Null for a match in the conversation's title. */
  messageId: string | null;
  snippet: string;
  score: number;
  cursor: string;
}

export interface SearchServiceDeps {
  conversations: Pick<ConversationService, 'list' | 'getMany'>;
  messages: Pick<MessageRepository, 'texts' | 'getMany' | 'get'>;
  events: Pick<ConversationEvents, 'followUser'>;
  maxBytes: number;
  logger: Logger;
}

interface Entry {
  index: UserIndex;
  stop: () => void;
}

export class SearchService {
  private readonly cache: LRUCache<string, Entry>;
  private readonly building = new Map<string, Promise<Entry>>();

  constructor(private readonly deps: SearchServiceDeps) {
    this.cache = new LRUCache<string, Entry>({
      maxSize: deps.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.index.bytes),
      dispose: (entry) => entry.stop(),
    });
  }

  /** Bytes the cached indexes take, as estimated (bounded by SEARCH_INDEX_MAX_BYTES). */
  get cachedBytes(): number {
    return this.cache.calculatedSize;
  }

  cachedUsers(): string[] {
    return [...this.cache.keys()];
  }

  async search(userId: string, query: string, page: PageRequest): Promise<{ hits: SearchHit[]; hasNextPage: boolean }> {
    const text = query.trim();
    if (text.length === 0 || text.length > MAX_QUERY_LENGTH) throw badInput(`query must be 1 to ${MAX_QUERY_LENGTH} characters`, { argument: 'query' });
    const first = pageSize(page.first);
    const offset = page.after ? Number(decodeCursor(page.after, ['offset']).offset) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw badInput('after is not a valid cursor', { argument: 'after' });
    const found = (await this.indexOf(userId)).search(text);
    // A title is mostly the first message's words: it is a hit of its own only where no message matched.
    const withMessages = new Set(found.filter((hit) => hit.messageId).map((hit) => hit.conversationId));
    const all = found.filter((hit) => hit.messageId || !withMessages.has(hit.conversationId));
    const hits = await this.withSnippets(userId, all.slice(offset, offset + first), offset);
    return { hits, hasNextPage: all.length > offset + first };
  }

  private async withSnippets(userId: string, hits: IndexHit[], offset: number): Promise<SearchHit[]> {
    const conversationIds = [...new Set(hits.map((hit) => hit.conversationId))];
    const conversations = new Map(
      (await this.deps.conversations.getMany(userId, conversationIds)).flatMap((c) => (c ? [[c.conversationId, c] as const] : [])),
    );
    const texts = new Map<string, string>();
    await Promise.all(
      conversationIds.map(async (conversationId) => {
        const ids = hits.filter((hit) => hit.conversationId === conversationId && hit.messageId).map((hit) => hit.messageId!);
        for (const message of await this.deps.messages.getMany(conversationId, ids)) texts.set(message.messageId, message.content);
      }),
    );
    return hits.flatMap((hit, i) => {
      const conversation = conversations.get(hit.conversationId);
      const text = hit.messageId ? texts.get(hit.messageId) : conversation?.title;
      // Deleted since it was indexed (its event has not reached this process yet): left out.
      if (!conversation || text === undefined) return [];
      return [{ conversation, messageId: hit.messageId, snippet: snippet(text, hit.terms), score: hit.score, cursor: encodeCursor({ offset: String(offset + i + 1) }) }];
    });
  }

  private async indexOf(userId: string): Promise<UserIndex> {
    const cached = this.cache.get(userId);
    if (cached) return cached.index;
    let building = this.building.get(userId);
    if (!building) {
      building = this.build(userId).finally(() => this.building.delete(userId));
      this.building.set(userId, building);
    }
    return (await building).index;
  }

  /** Listens first, then reads: what changes while the index is read is applied after it. */
  private async build(userId: string): Promise<Entry> {
    const index = new UserIndex();
    let pending: ConversationEvent[] | undefined = [];
    let stopped = false;
    const entry: Entry = { index, stop: () => {} };
    const unsubscribe = await this.deps.events.followUser(userId, (event) => {
      if (pending) pending.push(event);
      else void this.apply(userId, entry, event);
    });
    entry.stop = () => {
      if (stopped) return;
      stopped = true;
      unsubscribe();
    };
    try {
      for (const archived of [false, true]) {
        for (let after: string | undefined, more = true; more; ) {
          const page = await this.deps.conversations.list(userId, { first: 100, after }, { archived });
          for (const conversation of page.items) await this.indexConversation(index, conversation);
          after = page.items.length ? encodeCursor({ conversationId: page.items.at(-1)!.conversationId }) : undefined;
          more = page.hasNextPage;
        }
      }
      for (const event of pending) await this.apply(userId, entry, event);
      pending = undefined;
    } catch (error) {
      entry.stop();
      throw error;
    }
    this.cache.set(userId, entry);
    // Larger than the whole bound: not kept (and no longer listening); the next search builds it again.
    if (!this.cache.has(userId)) entry.stop();
    return entry;
  }

  private async indexConversation(index: UserIndex, conversation: ConversationRecord): Promise<void> {
    const { conversationId } = conversation;
    index.put({ id: titleDocumentId(conversationId), conversationId, text: conversation.title });
    for (const { messageId, content } of await this.deps.messages.texts(conversationId)) index.put({ id: messageId, conversationId, messageId, text: content });
  }

  private async apply(userId: string, entry: Entry, event: ConversationEvent): Promise<void> {
    try {
      const { index } = entry;
      if (event.kind === 'DELETED') index.removeConversation(event.conversationId);
      else if (event.conversation && !index.hasConversation(event.conversationId)) await this.indexConversation(index, event.conversation);
      else if (event.conversation) {
        index.put({ id: titleDocumentId(event.conversationId), conversationId: event.conversationId, text: event.conversation.title });
        const message = event.kind === 'MESSAGE_ADDED' && event.messageId ? await this.deps.messages.get(event.conversationId, event.messageId) : undefined;
        if (message) index.put({ id: message.messageId, conversationId: message.conversationId, messageId: message.messageId, text: message.content });
      }
      // Its size changed: counted again (only if it is still kept).
      if (this.cache.peek(userId) === entry) this.cache.set(userId, entry);
    } catch (error) {
      // The index missed a change: dropped, so that the next search reads everything afresh.
      this.deps.logger.warn({ err: error, userId }, 'search index update failed; rebuilt on the next search');
      this.cache.delete(userId);
    }
  }
}
