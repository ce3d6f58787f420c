import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  BatchGetCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from './pagination.ts';
import type { MessageRepository } from './messages.ts';

export interface ConversationRecord {
  userId: string;
  conversationId: string;
  title: string;
  systemPrompt?: string;
  /** Messages stored in it (user and assistant). */
  messageCount?: number;
  createdAt: string;
  updatedAt: string;
}

export interface ConversationKey {
  userId: string;
  conversationId: string;
}

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_LIMIT = 100;

export class ConversationRepository {
  constructor(
    private readonly db: Dynamo,
    private readonly messages: MessageRepository,
  ) {}

  private get table() {
    return this.db.tables.conversations;
  }

  async create(userId: string, input: { title: string; systemPrompt?: string }): Promise<ConversationRecord> {
    const now = new Date().toISOString();
    const record: ConversationRecord = {
      userId,
      conversationId: newId(),
      title: input.title,
      systemPrompt: input.systemPrompt,
      createdAt: now,
      updatedAt: now,
    };
    await this.db.doc.send(
      new PutCommand({ TableName: this.table, Item: record, ConditionExpression: 'attribute_not_exists(conversationId)' }),
    );
    return record;
  }

  async get(userId: string, conversationId: string): Promise<ConversationRecord | undefined> {
    const { Item } = await this.db.doc.send(
      new GetCommand({ TableName: this.table, Key: { userId, conversationId }, ConsistentRead: true }),
    );
    return Item as ConversationRecord | undefined;
  }

  /** For the per-request DataLoader: results in the order of `keys`, undefined where absent. */
  async getMany(keys: readonly ConversationKey[]): Promise<(ConversationRecord | undefined)[]> {
    const found = new Map<string, ConversationRecord>();
    for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
      let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
        [this.table]: { Keys: keys.slice(start, start + BATCH_GET_LIMIT).map((k) => ({ ...k })) },
      };
      while (request && Object.keys(request).length > 0) {
        const result = await this.db.doc.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of (result.Responses?.[this.table] ?? []) as ConversationRecord[]) {
          found.set(`${item.userId}/${item.conversationId}`, item);
        }
        request = result.UnprocessedKeys as typeof request;
      }
    }
    return keys.map((k) => found.get(`${k.userId}/${k.conversationId}`));
  }

  /** Newest first: ULID keys read in descending order. */
  async list(userId: string, page: PageRequest): Promise<Page<ConversationRecord>> {
    const limit = pageSize(page.first);
    const start = page.after ? decodeCursor(page.after, ['conversationId']) : undefined;
    const { Items = [] } = await this.db.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': userId },
        ScanIndexForward: false,
        Limit: limit + 1,
        ExclusiveStartKey: start ? { userId, conversationId: start.conversationId } : undefined,
      }),
    );
    return { items: Items.slice(0, limit) as ConversationRecord[], hasNextPage: Items.length > limit };
  }

  static cursorOf(record: ConversationRecord): string {
    return encodeCursor({ conversationId: record.conversationId });
  }

  /** Returns the updated record, or undefined when the user has no such conversation. */
  async update(
    userId: string,
    conversationId: string,
    changes: { title?: string; systemPrompt?: string },
  ): Promise<ConversationRecord | undefined> {
    const names: Record<string, string> = { '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = { ':now': new Date().toISOString() };
    const sets = ['#updatedAt = :now'];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    try {
      const { Attributes } = await this.db.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { userId, conversationId },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(conversationId)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as ConversationRecord;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Records new messages: `updatedAt` moves and `messageCount` grows. Undefined if it is gone. */
  async touch(userId: string, conversationId: string, newMessages: number): Promise<ConversationRecord | undefined> {
    try {
      const { Attributes } = await this.db.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { userId, conversationId },
          UpdateExpression: 'SET updatedAt = :now ADD messageCount :n',
          ConditionExpression: 'attribute_exists(conversationId)',
          ExpressionAttributeValues: { ':now': new Date().toISOString(), ':n': newMessages },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes as ConversationRecord;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /**
   * Deletes the conversation and every message in it. Messages go first: if the process dies
   * half-way, the conversation is still listed and deleting it again finishes the job, rather
   * than leaving messages that nothing points to.
   */
  async delete(userId: string, conversationId: string): Promise<boolean> {
    if (!(await this.get(userId, conversationId))) return false;
    await this.messages.deleteAll(conversationId);
    await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: { userId, conversationId } }));
    return true;
  }
}
