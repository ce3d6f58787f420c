import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from './batch-write.ts';
import { queryAll } from './query-all.ts';
import { batchGetAll } from './batch-get.ts';
import { MESSAGE_INDEX } from './tables.ts';
import type { Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';
import { encodeCursor, queryPage, type Page, type PageRequest } from './pagination.ts';

export type MessageRole = 'system' | 'user' | 'assistant';

export interface MessageRecord {
  conversationId: string;
  messageId: string;
  userId: string;
  role: MessageRole;
  content: string;
  /** The message this one answers or follows; edits and regenerations branch from it. */
  parentId?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Assistant replies: why generation ended (stop, length, eos, cancelled). */
  finishReason?: string;
  /** Assistant replies cut short by cancelGeneration. */
  interrupted?: boolean;
  generationId?: string;
  /** Files the user attached to this message (ids in the files table, same owner). */
  fileIds?: string[];
  timings?: { queueSeconds: number; timeToFirstTokenSeconds: number; tokensPerSecond: number };
  createdAt: string;
}

export type NewMessage = Omit<MessageRecord, 'messageId' | 'createdAt'>;

/** How many messages of a conversation the model's context is built from, newest first. */
export const CONTEXT_MESSAGE_LIMIT = 500;

export class MessageRepository {
  constructor(private readonly db: Dynamo) {}

  private get table() {
    return this.db.tables.messages;
  }

  async add(message: NewMessage): Promise<MessageRecord> {
    const record: MessageRecord = { ...message, messageId: newId(), createdAt: new Date().toISOString() };
    await this.db.doc.send(new PutCommand({ TableName: this.table, Item: record }));
    return record;
  }

  /**
   * Stores a message under an id chosen in advance, once: a second call with the same id (a
   * redelivered job) changes nothing and returns false.
   */
  async putOnce(record: MessageRecord): Promise<boolean> {
    try {
      await this.db.doc.send(
        new PutCommand({ TableName: this.table, Item: record, ConditionExpression: 'attribute_not_exists(messageId)' }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async get(conversationId: string, messageId: string): Promise<MessageRecord | undefined> {
    const { Item } = await this.db.doc.send(
      new GetCommand({ TableName: this.table, Key: { conversationId, messageId }, ConsistentRead: true }),
    );
    return Item as MessageRecord | undefined;
  }

  /** Finds a message by id alone; the caller checks that it belongs to the requesting user. */
  async findById(messageId: string): Promise<MessageRecord | undefined> {
    const { Items = [] } = await this.db.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: MESSAGE_INDEX.byMessageId,
        KeyConditionExpression: 'messageId = :m',
        ExpressionAttributeValues: { ':m': messageId },
        Limit: 1,
      }),
    );
    const key = Items[0];
    return key ? this.get(key.conversationId as string, messageId) : undefined;
  }

  /** Messages of one conversation by id, in the order asked (absent ones left out). */
  async getMany(conversationId: string, messageIds: readonly string[]): Promise<MessageRecord[]> {
    const found = new Map(
      (await batchGetAll<MessageRecord>(this.db.doc, this.table, [...new Set(messageIds)].map((messageId) => ({ conversationId, messageId })))).map((m) => [m.messageId, m]),
    );
    return messageIds.flatMap((id) => found.get(id) ?? []);
  }

  /** Every message's id and parent, in writing order: the conversation's branches, read without the texts. */
  async tree(conversationId: string): Promise<{ messageId: string; parentId?: string }[]> {
    return queryAll(this.db.doc, {
      TableName: this.table,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': conversationId },
      ProjectionExpression: 'messageId, parentId',
      ConsistentRead: true,
    });
  }

  /** Every message's id and text, in writing order, read a megabyte at a time (the search index is built from them). */
  async texts(conversationId: string): Promise<{ messageId: string; content: string }[]> {
    return queryAll(this.db.doc, {
      TableName: this.table,
      KeyConditionExpression: 'conversationId = :c',
      ExpressionAttributeValues: { ':c': conversationId },
      ProjectionExpression: 'messageId, content',
    });
  }

  /** The newest messages of a conversation (up to `limit`), oldest first. */
  async recent(conversationId: string, limit = CONTEXT_MESSAGE_LIMIT): Promise<MessageRecord[]> {
    const { Items = [] } = await this.db.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': conversationId },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (Items as MessageRecord[]).reverse();
  }

  /** Chronological: ULID keys read in ascending order. */
  async list(conversationId: string, page: PageRequest): Promise<Page<MessageRecord>> {
    return queryPage<MessageRecord>(
      this.db.doc,
      {
        TableName: this.table,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': conversationId },
        ScanIndexForward: true,
      },
      page,
      { fields: ['messageId'], startKey: ({ messageId }) => ({ conversationId, messageId }) },
    );
  }

  static cursorOf(record: MessageRecord): string {
    return encodeCursor({ messageId: record.messageId });
  }

  async count(conversationId: string): Promise<number> {
    let total = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const result = await this.db.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'conversationId = :c',
          ExpressionAttributeValues: { ':c': conversationId },
          Select: 'COUNT',
          ExclusiveStartKey: start,
        }),
      );
      total += result.Count ?? 0;
      start = result.LastEvaluatedKey;
    } while (start);
    return total;
  }

  /** Deletes every message of a conversation, page by page, however many there are. */
  async deleteAll(conversationId: string): Promise<number> {
    let deleted = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'conversationId = :c',
          ExpressionAttributeValues: { ':c': conversationId },
          ProjectionExpression: 'conversationId, messageId',
          ExclusiveStartKey: start,
        }),
      );
      const keys = page.Items ?? [];
      await batchWriteAll(this.db.doc, this.table, keys.map((Key) => ({ DeleteRequest: { Key } })));
      deleted += keys.length;
      start = page.LastEvaluatedKey;
    } while (start);
    return deleted;
  }
}
