/**
 * Share links: a snapshot of a conversation's active branch as it is when shared (later
 * messages, other branches, attachments and the owner's email never appear), readable by anyone
 * with the link, until its owner revokes it or deletes the conversation.
 */
import { notFound } from '../errors.ts';
import type { ConversationRecord } from '../store/conversations.ts';
import type { MessageRecord } from '../store/messages.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import type { ShareRecord, ShareRepository, SharedMessage } from '../store/shares.ts';

export interface SharedConversation {
  share: ShareRecord;
  messages: SharedMessage[];
}

export interface ConversationSharesDeps {
  shares: ShareRepository;
  own(userId: string, conversationId: string): Promise<ConversationRecord>;
  branch(conversation: ConversationRecord): Promise<MessageRecord[]>;
  /** PUBLIC_URL: links are `${publicUrl}/share/{id}`. */
  publicUrl: string;
}

export class ConversationShares {
  constructor(private readonly deps: ConversationSharesDeps) {}

  urlOf(share: ShareRecord): string {
    return `${this.deps.publicUrl.replace(/\/$/, '')}/share/${share.shareId}`;
  }

  async share(userId: string, conversationId: string): Promise<ShareRecord> {
    const conversation = await this.deps.own(userId, conversationId);
    const branch = await this.deps.branch(conversation);
    // Only what the conversation says: no attachments, no ids, no token counts.
    const messages = branch.filter((m) => m.content.length > 0).map(({ role, content, createdAt }) => ({ role, content, createdAt }));
    return this.deps.shares.create(userId, conversation, messages);
  }

  /** Anyone's read of a share by its id; NOT_FOUND once revoked (or for an id never made). */
  async read(shareId: string): Promise<SharedConversation> {
    const share = await this.deps.shares.get(shareId);
    if (!share) throw notFound('Share');
    return { share, messages: await this.deps.shares.messages(share.shareId) };
  }

  list(userId: string, page: PageRequest): Promise<Page<ShareRecord>> {
    return this.deps.shares.list(userId, page);
  }

  /** The user's own share record; undefined for anyone else's. */
  async own(userId: string, shareId: string): Promise<ShareRecord | undefined> {
    const share = await this.deps.shares.get(shareId);
    return share?.userId === userId ? share : undefined;
  }

  /** The user's share, revoked at once; NOT_FOUND for anyone else's. */
  async revoke(userId: string, shareId: string): Promise<void> {
    const share = await this.own(userId, shareId);
    if (!share) throw notFound('Share');
    await this.deps.shares.delete(share);
  }

  /** With the conversation: every link to it stops working. */
  async revokeAllOf(userId: string, conversationId: string): Promise<void> {
    for (const share of await this.deps.shares.ofConversation(userId, conversationId)) await this.deps.shares.delete(share);
  }
}
