/**
 * Conversations shared by link: a snapshot of one branch, read by anyone who has the share's
 * id. Items `{shareId, part}`: `META` (owner, title, date) and one `M#<n>` per message. The
 * messages are written before META and deleted after it, so a reader that finds META finds a
 * whole snapshot, and a revoked share is gone the moment META is.
 */
import crypto from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from './batch-write.ts';
import { queryAll } from './query-all.ts';
import type { Dynamo } from './dynamo.ts';
import { encodeCursor, queryPage, type Page, type PageRequest } from './pagination.ts';
import { SHARE_INDEX } from './tables.ts';

export interface ShareRecord {
  shareId: string;
  userId: string;
  conversationId: string;
  title: string;
  messageCount: number;
  createdAt: string;
}

export interface SharedMessage {
  role: string;
  content: string;
  createdAt: string;
}

const META = 'META';
const messagePart = (index: number) => `M#${String(index).padStart(6, '0')}`;
/** 128 random bits, base64url: 22 characters. */
const SHARE_ID = /^[A-Za-z0-9_-]{22}$/;

export const isShareId = (value: string) => SHARE_ID.test(value);

function toRecord(item: Record<string, unknown>): ShareRecord {
  const { part: _part, owner, listKey: _listKey, ...rest } = item;
  return { ...(rest as Omit<ShareRecord, 'userId'>), userId: owner as string };
}

export class ShareRepository {
  constructor(private readonly db: Dynamo) {}

  private get table() {
    return this.db.tables.shares;
  }

  async create(userId: string, conversation: { conversationId: string; title: string }, messages: readonly SharedMessage[]): Promise<ShareRecord> {
    const shareId = crypto.randomBytes(16).toString('base64url');
    const createdAt = new Date().toISOString();
    await batchWriteAll(
      this.db.doc,
      this.table,
      messages.map((message, index) => ({ PutRequest: { Item: { shareId, part: messagePart(index), ...message } } })),
    );
    const record: ShareRecord = { shareId, userId, conversationId: conversation.conversationId, title: conversation.title, messageCount: messages.length, createdAt };
    const { userId: owner, ...meta } = record;
    await this.db.doc.send(new PutCommand({ TableName: this.table, Item: { ...meta, part: META, owner, listKey: `${createdAt}#${shareId}` } }));
    return record;
  }

  async get(shareId: string): Promise<ShareRecord | undefined> {
    if (!isShareId(shareId)) return undefined;
    const { Item } = await this.db.doc.send(new GetCommand({ TableName: this.table, Key: { shareId, part: META }, ConsistentRead: true }));
    return Item ? toRecord(Item) : undefined;
  }

  /** The snapshot's messages, in order. */
  async messages(shareId: string): Promise<SharedMessage[]> {
    const items = await queryAll(this.db.doc, {
      TableName: this.table,
      KeyConditionExpression: 'shareId = :s AND begins_with(part, :m)',
      ExpressionAttributeValues: { ':s': shareId, ':m': 'M#' },
      ConsistentRead: true,
    });
    return items.map(({ role, content, createdAt }) => ({ role, content, createdAt }) as SharedMessage);
  }

  /** A user's shares, newest first. */
  list(userId: string, page: PageRequest): Promise<Page<ShareRecord>> {
    return queryPage(
      this.db.doc,
      {
        TableName: this.table,
        IndexName: SHARE_INDEX.byOwner,
        KeyConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': userId },
        ScanIndexForward: false,
      },
      page,
      { fields: ['shareId', 'createdAt'], startKey: ({ shareId, createdAt }) => ({ owner: userId, listKey: `${createdAt}#${shareId}`, shareId, part: META }) },
    ).then((result) => ({ ...result, items: result.items.map((item) => toRecord(item as Record<string, unknown>)) }));
  }

  static cursorOf(share: ShareRecord): string {
    return encodeCursor({ shareId: share.shareId, createdAt: share.createdAt });
  }

  /** Every share of one conversation (to revoke them with it). */
  async ofConversation(userId: string, conversationId: string): Promise<ShareRecord[]> {
    const items = await queryAll(this.db.doc, {
      TableName: this.table,
      IndexName: SHARE_INDEX.byOwner,
      KeyConditionExpression: '#owner = :owner',
      FilterExpression: 'conversationId = :c',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': userId, ':c': conversationId },
    });
    return items.map(toRecord);
  }

  /** Gone for readers at once (META first), then the messages. */
  async delete(share: ShareRecord): Promise<void> {
    await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: { shareId: share.shareId, part: META } }));
    await batchWriteAll(
      this.db.doc,
      this.table,
      Array.from({ length: share.messageCount }, (_, index) => ({ DeleteRequest: { Key: { shareId: share.shareId, part: messagePart(index) } } })),
    );
  }
}
