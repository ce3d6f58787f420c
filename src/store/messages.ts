import { BatchWriteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from './pagination.ts';

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
  createdAt: string;
}

export type NewMessage = Omit<MessageRecord, 'messageId' | 'createdAt'>;

/** BatchWriteItem takes at most 25 requests. */
const BATCH_WRITE_LIMIT = 25;

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

  /** Chronological: ULID keys read in ascending order. */
  async list(conversationId: string, page: PageRequest): Promise<Page<MessageRecord>> {
    const limit = pageSize(page.first);
    const start = page.after ? decodeCursor(page.after, ['messageId']) : undefined;
    const { Items = [] } = await this.db.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': conversationId },
        ScanIndexForward: true,
        Limit: limit + 1,
        ExclusiveStartKey: start ? { conversationId, messageId: start.messageId } : undefined,
      }),
    );
    return { items: Items.slice(0, limit) as MessageRecord[], hasNextPage: Items.length > limit };
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
      for (let i = 0; i < keys.length; i += BATCH_WRITE_LIMIT) {
        await this.deleteBatch(keys.slice(i, i + BATCH_WRITE_LIMIT));
      }
      deleted += keys.length;
      start = page.LastEvaluatedKey;
    } while (start);
    return deleted;
  }

  private async deleteBatch(keys: Record<string, unknown>[]): Promise<void> {
    let pending: Record<string, { DeleteRequest: { Key: Record<string, unknown> } }[]> | undefined = {
      [this.table]: keys.map((Key) => ({ DeleteRequest: { Key } })),
    };
    // DynamoDB may leave part of a batch unprocessed under load; retry it with backoff.
    for (let attempt = 0; pending && Object.keys(pending).length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
      const result = await this.db.doc.send(new BatchWriteCommand({ RequestItems: pending }));
      pending = result.UnprocessedItems as typeof pending;
    }
  }
}
