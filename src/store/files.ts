/**
 * File metadata, keyed `{userId, fileId}`: the owner is in the key, so another user's file is
 * simply not found. The bytes are in the file storage under `storageKey`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Dynamo } from './dynamo.ts';
import { decodeCursor, encodeCursor, pageSize, type Page, type PageRequest } from './pagination.ts';

export interface FileRecord {
  userId: string;
  fileId: string;
  /** Sanitised name the user gave it. */
  name: string;
  /** Sniffed from the bytes. */
  contentType: string;
  size: number;
  storageKey: string;
  createdAt: string;
}

const BATCH_GET_LIMIT = 100;

export class FileRepository {
  constructor(private readonly db: Dynamo) {}

  private get table() {
    return this.db.tables.files;
  }

  async put(record: FileRecord): Promise<void> {
    await this.db.doc.send(new PutCommand({ TableName: this.table, Item: record, ConditionExpression: 'attribute_not_exists(fileId)' }));
  }

  async get(userId: string, fileId: string): Promise<FileRecord | undefined> {
    const { Item } = await this.db.doc.send(new GetCommand({ TableName: this.table, Key: { userId, fileId }, ConsistentRead: true }));
    return Item as FileRecord | undefined;
  }

  /** One user's files by id, in the order asked; undefined where absent. */
  async getMany(userId: string, fileIds: readonly string[]): Promise<(FileRecord | undefined)[]> {
    const found = new Map<string, FileRecord>();
    const unique = [...new Set(fileIds)];
    for (let start = 0; start < unique.length; start += BATCH_GET_LIMIT) {
      let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
        [this.table]: { Keys: unique.slice(start, start + BATCH_GET_LIMIT).map((fileId) => ({ userId, fileId })) },
      };
      while (request && Object.keys(request).length > 0) {
        const result = await this.db.doc.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of (result.Responses?.[this.table] ?? []) as FileRecord[]) found.set(item.fileId, item);
        request = result.UnprocessedKeys as typeof request;
      }
    }
    return fileIds.map((id) => found.get(id));
  }

  /** Newest first (ULID keys read descending). */
  async list(userId: string, page: PageRequest): Promise<Page<FileRecord>> {
    const limit = pageSize(page.first);
    const start = page.after ? decodeCursor(page.after, ['fileId']) : undefined;
    const { Items = [] } = await this.db.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': userId },
        ScanIndexForward: false,
        Limit: limit + 1,
        ExclusiveStartKey: start ? { userId, fileId: start.fileId } : undefined,
      }),
    );
    return { items: Items.slice(0, limit) as FileRecord[], hasNextPage: Items.length > limit };
  }

  static cursorOf(record: FileRecord): string {
    return encodeCursor({ fileId: record.fileId });
  }

  /** Removes the record; false when the user has no such file. */
  async delete(userId: string, fileId: string): Promise<boolean> {
    try {
      await this.db.doc.send(
        new DeleteCommand({ TableName: this.table, Key: { userId, fileId }, ConditionExpression: 'attribute_exists(fileId)' }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
