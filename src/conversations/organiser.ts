/**
 * Pin, archive, tag and file conversations in folders, and list them by those. Each change goes
 * to the conversation's record first and then to the view entries that list it (src/store/
 * labels.ts); other devices hear of it as an UPDATED event.
 */
import { badInput, notFound } from '../errors.ts';
import type { ConversationRecord, ConversationRepository } from '../store/conversations.ts';
import { isId } from '../store/ids.ts';
import { viewsOf, type ConversationView, type FolderRecord, type LabelRepository } from '../store/labels.ts';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from '../store/pagination.ts';
import type { ConversationEvents } from './events.ts';

export const MAX_TAGS = 10;
export const MAX_TAG_LENGTH = 32;
export const MAX_FOLDER_NAME_LENGTH = 100;
/** Conversations read per Query while a filtered page is filled. */
const READ_BATCH = 100;

export interface ConversationFilter {
  /** true: only archived ones; otherwise archived ones are left out. */
  archived?: boolean | null;
  pinned?: boolean | null;
  tag?: string | null;
  folderId?: string | null;
}

export interface OrganiserDeps {
  conversations: ConversationRepository;
  labels: LabelRepository;
  events: ConversationEvents;
  /** The user's conversation, or NOT_FOUND (ConversationService.own). */
  own(userId: string, conversationId: string): Promise<ConversationRecord>;
  maxSystemPromptLength: number;
}

type Organisation = { pinned?: boolean; archived?: boolean; tags?: string[]; folderId?: string | null };

export class ConversationOrganiser {
  constructor(private readonly deps: OrganiserDeps) {}

  pin(userId: string, conversationId: string, pinned: boolean) {
    return this.change(userId, conversationId, { pinned });
  }

  archive(userId: string, conversationId: string, archived: boolean) {
    return this.change(userId, conversationId, { archived });
  }

  /** Up to 10 tags of 1 to 32 characters, trimmed; repeats are kept once. */
  setTags(userId: string, conversationId: string, tags: readonly string[]) {
    const unique = [...new Set(tags.map((tag) => tag.trim()))];
    if (unique.length > MAX_TAGS) throw badInput(`At most ${MAX_TAGS} tags`, { argument: 'tags' });
    for (const tag of unique) {
      if (tag.length === 0 || tag.length > MAX_TAG_LENGTH) throw badInput(`Each tag must be 1 to ${MAX_TAG_LENGTH} characters`, { argument: 'tags' });
    }
    return this.change(userId, conversationId, { tags: unique });
  }

  /** Into one of the user's folders, or out of any (null). */
  async move(userId: string, conversationId: string, folderId: string | null) {
    if (folderId !== null) await this.folder(userId, folderId);
    return this.change(userId, conversationId, { folderId });
  }

  async folders(userId: string): Promise<FolderRecord[]> {
    return this.deps.labels.folders(userId);
  }

  /** The user's folder, or NOT_FOUND. */
  async folder(userId: string, folderId: string): Promise<FolderRecord> {
    const folder = await this.findFolder(userId, folderId);
    if (!folder) throw notFound('Folder');
    return folder;
  }

  async findFolder(userId: string, folderId: string): Promise<FolderRecord | undefined> {
    return isId(folderId) ? this.deps.labels.folder(userId, folderId) : undefined;
  }

  createFolder(userId: string, name: string, systemPrompt?: string | null): Promise<FolderRecord> {
    return this.deps.labels.createFolder(userId, { name: checkFolderName(name), systemPrompt: this.checkSystemPrompt(systemPrompt) });
  }

  async renameFolder(userId: string, folderId: string, name: string): Promise<FolderRecord> {
    const checked = checkFolderName(name);
    const updated = isId(folderId) ? await this.deps.labels.updateFolder(userId, folderId, { name: checked }) : undefined;
    if (!updated) throw notFound('Folder');
    return updated;
  }

  /** The folder's system prompt, for its conversations without one; null or empty removes it. */
  async setFolderSystemPrompt(userId: string, folderId: string, systemPrompt: string | null): Promise<FolderRecord> {
    const checked = this.checkSystemPrompt(systemPrompt) ?? null;
    const updated = isId(folderId) ? await this.deps.labels.updateFolder(userId, folderId, { systemPrompt: checked }) : undefined;
    if (!updated) throw notFound('Folder');
    return updated;
  }

  /** Deletes the folder; its conversations move out of it, none is deleted. */
  async deleteFolder(userId: string, folderId: string): Promise<void> {
    await this.folder(userId, folderId);
    const view: ConversationView = { kind: 'FOLDER', folderId };
    for (let batch = await this.deps.labels.inView(userId, view, READ_BATCH); batch.ids.length > 0; batch = await this.deps.labels.inView(userId, view, READ_BATCH)) {
      for (const conversationId of batch.ids) {
        const conversation = await this.deps.conversations.get(userId, conversationId);
        if (conversation?.folderId === folderId) await this.change(userId, conversationId, { folderId: null });
        else await this.deps.labels.setViews(userId, conversationId, { remove: [view] }); // a stale entry
      }
    }
    await this.deps.labels.deleteFolder(userId, folderId);
  }

  /**
   * The user's conversations, newest first, by filter: read from the view entries of the most
   * selective condition given (tag, folder, pinned, archived), else from the user's conversations;
   * the other conditions are checked on the records. Archived ones only with `archived: true`.
   */
  async list(userId: string, filter: ConversationFilter, page: PageRequest): Promise<Page<ConversationRecord>> {
    const first = pageSize(page.first);
    let after = page.after ? decodeCursor(page.after, ['conversationId']).conversationId : undefined;
    if (filter.folderId != null) await this.folder(userId, filter.folderId);
    const view = viewFor(filter);
    const items: ConversationRecord[] = [];
    for (let more = true; more && items.length <= first; ) {
      let records: (ConversationRecord | undefined)[];
      if (view) {
        const batch = await this.deps.labels.inView(userId, view, READ_BATCH, after);
        records = await this.deps.conversations.getMany(batch.ids.map((conversationId) => ({ userId, conversationId })));
        after = batch.ids.at(-1);
        more = batch.more;
      } else {
        const batch = await this.deps.conversations.list(userId, { first: READ_BATCH, after: after ? encodeCursor({ conversationId: after }) : undefined });
        records = batch.items;
        after = batch.items.at(-1)?.conversationId;
        more = batch.hasNextPage;
      }
      items.push(...records.filter((record): record is ConversationRecord => record !== undefined && matches(record, filter)));
    }
    return { items: items.slice(0, first), hasNextPage: items.length > first };
  }

  private async change(userId: string, conversationId: string, changes: Organisation): Promise<ConversationRecord> {
    const before = await this.deps.own(userId, conversationId);
    const after = await this.deps.conversations.organise(userId, before.conversationId, changes);
    if (!after) throw notFound('Conversation');
    const key = (view: ConversationView) => JSON.stringify(view);
    const [was, is] = [viewsOf(before), viewsOf(after)];
    await this.deps.labels.setViews(userId, after.conversationId, {
      add: is.filter((view) => !was.some((old) => key(old) === key(view))),
      remove: was.filter((view) => !is.some((now) => key(now) === key(view))),
    });
    this.deps.events.updated(after);
    return after;
  }

  private checkSystemPrompt(value: string | null | undefined): string | undefined {
    if (value == null || value.length === 0) return undefined;
    if (value.length > this.deps.maxSystemPromptLength) throw badInput(`systemPrompt must be at most ${this.deps.maxSystemPromptLength} characters`, { argument: 'systemPrompt' });
    return value;
  }
}

function viewFor(filter: ConversationFilter): ConversationView | undefined {
  if (filter.tag != null) return { kind: 'TAG', tag: filter.tag.trim() };
  if (filter.folderId != null) return { kind: 'FOLDER', folderId: filter.folderId };
  if (filter.pinned === true) return { kind: 'PINNED' };
  if (filter.archived === true) return { kind: 'ARCHIVED' };
  return undefined;
}

function matches(conversation: ConversationRecord, filter: ConversationFilter): boolean {
  if (Boolean(conversation.archived) !== (filter.archived === true)) return false;
  if (filter.pinned != null && Boolean(conversation.pinned) !== filter.pinned) return false;
  if (filter.tag != null && !conversation.tags?.includes(filter.tag.trim())) return false;
  return filter.folderId == null || conversation.folderId === filter.folderId;
}

function checkFolderName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_FOLDER_NAME_LENGTH) throw badInput(`name must be 1 to ${MAX_FOLDER_NAME_LENGTH} characters`, { argument: 'name' });
  return trimmed;
}
