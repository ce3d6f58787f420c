/**
 * File metadata, keyed `{userId, fileId}`: the owner is in the key, so another user's file is
 * simply not found. The bytes are in the file storage under `storageKey`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetAll } from './batch-get.ts';
import type { Dynamo } from './dynamo.ts';
import { encodeCursor, queryPage, type Page, type PageRequest } from './pagination.ts';

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
    const keys = [...new Set(fileIds)].map((fileId) => ({ userId, fileId }));
    const found = new Map((await batchGetAll<FileRecord>(this.db.doc, this.table, keys)).map((item) => [item.fileId, item]));
    return fileIds.map((id) => found.get(id));
  }

  /** Newest first (ULID keys read descending). */
  async list(userId: string, page: PageRequest): Promise<Page<FileRecord>> {
    return queryPage<FileRecord>(
      this.db.doc,
      {
        TableName: this.table,
        KeyConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': userId },
        ScanIndexForward: false,
      },
      page,
      { fields: ['fileId'], startKey: ({ fileId }) => ({ userId, fileId }) },
    );
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
