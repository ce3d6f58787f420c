/**
 * How a user organises conversations: folders, and index entries that list conversations by
 * view (pinned, archived, in a folder, with a tag), one item per conversation and view, all in
 * the user's partition: `{userId, key: FOLDER#<id>}` and `{userId, key: IN#<view>#<conversationId>}`.
 * A filtered list is then one key-condition Query in conversation-id order (newest first), the
 * same order as the unfiltered list, so one cursor serves every view.
 *
 * Entries live here rather than as indexes of the conversations table because adding an index
 * to a table that exists needs UpdateTable, which dynalite (the embedded database) lacks.
 * The conversation record is the truth: entries are written after it and checked against it
 * when read, so one left stale by a crash shows nothing wrong, and repeating the change mends it.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { batchWriteAll } from './batch-write.ts';
import { queryAll } from './query-all.ts';
import { updateExpression } from './update-expression.ts';
import type { Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';

export interface FolderRecord {
  userId: string;
  folderId: string;
  name: string;
  systemPrompt?: string;
  createdAt: string;
}

/** A list of conversations by one property. */
export type ConversationView = { kind: 'PINNED' } | { kind: 'ARCHIVED' } | { kind: 'FOLDER'; folderId: string } | { kind: 'TAG'; tag: string };

const FOLDER = 'FOLDER#';
// Tags are encoded: a `#` in one must not make its entries look like another tag's.
const viewPrefix = (view: ConversationView) =>
  `IN#${view.kind === 'FOLDER' ? `FOLDER:${view.folderId}` : view.kind === 'TAG' ? `TAG:${encodeURIComponent(view.tag)}` : view.kind}#`;

/** The views a conversation is listed in, by its record. */
export function viewsOf(conversation: { pinned?: boolean; archived?: boolean; folderId?: string; tags?: string[] }): ConversationView[] {
  return [
    ...(conversation.pinned ? [{ kind: 'PINNED' } as const] : []),
    ...(conversation.archived ? [{ kind: 'ARCHIVED' } as const] : []),
    ...(conversation.folderId ? [{ kind: 'FOLDER', folderId: conversation.folderId } as const] : []),
    ...(conversation.tags ?? []).map((tag) => ({ kind: 'TAG', tag }) as const),
  ];
}

export class LabelRepository {
  constructor(private readonly db: Dynamo) {}

  private get table() {
    return this.db.tables.labels;
  }

  async createFolder(userId: string, input: { name: string; systemPrompt?: string }): Promise<FolderRecord> {
    const folder: FolderRecord = { userId, folderId: newId(), name: input.name, systemPrompt: input.systemPrompt, createdAt: new Date().toISOString() };
    await this.db.doc.send(new PutCommand({ TableName: this.table, Item: { ...folder, key: `${FOLDER}${folder.folderId}` } }));
    return folder;
  }

  async folder(userId: string, folderId: string): Promise<FolderRecord | undefined> {
    const { Item } = await this.db.doc.send(new GetCommand({ TableName: this.table, Key: { userId, key: `${FOLDER}${folderId}` }, ConsistentRead: true }));
    return Item ? strip(Item) : undefined;
  }

  /** The user's folders, oldest first. */
  async folders(userId: string): Promise<FolderRecord[]> {
    return (await this.prefixed(userId, FOLDER)).map(strip);
  }

  /** Undefined when the user has no such folder. */
  async updateFolder(userId: string, folderId: string, changes: { name?: string; systemPrompt?: string | null }): Promise<FolderRecord | undefined> {
    const { systemPrompt, ...rest } = changes;
    try {
      const { Attributes } = await this.db.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { userId, key: `${FOLDER}${folderId}` },
          ...updateExpression({ ...rest, ...(systemPrompt !== null ? { systemPrompt } : {}) }, systemPrompt === null ? ['systemPrompt'] : []),
          ConditionExpression: 'attribute_exists(folderId)',
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip(Attributes!);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async deleteFolder(userId: string, folderId: string): Promise<void> {
    await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: { userId, key: `${FOLDER}${folderId}` } }));
  }

  /** Puts and removes a conversation's entries in views. */
  async setViews(userId: string, conversationId: string, change: { add?: ConversationView[]; remove?: ConversationView[] }): Promise<void> {
    await batchWriteAll(this.db.doc, this.table, [
      ...(change.add ?? []).map((view) => ({ PutRequest: { Item: { userId, key: `${viewPrefix(view)}${conversationId}`, conversationId } } })),
      ...(change.remove ?? []).map((view) => ({ DeleteRequest: { Key: { userId, key: `${viewPrefix(view)}${conversationId}` } } })),
    ]);
  }

  /** Up to `limit` conversation ids in a view, newest first, after `after` (a conversation id). */
  async inView(userId: string, view: ConversationView, limit: number, after?: string): Promise<{ ids: string[]; more: boolean }> {
    const prefix = viewPrefix(view);
    const { Items = [], LastEvaluatedKey } = await this.db.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'userId = :u AND begins_with(#key, :prefix)',
        ExpressionAttributeNames: { '#key': 'key' },
        ExpressionAttributeValues: { ':u': userId, ':prefix': prefix },
        ScanIndexForward: false,
        Limit: limit,
        ...(after ? { ExclusiveStartKey: { userId, key: `${prefix}${after}` } } : {}),
      }),
    );
    return { ids: Items.map((item) => item.conversationId as string), more: LastEvaluatedKey !== undefined };
  }

  private prefixed(userId: string, prefix: string): Promise<Record<string, unknown>[]> {
    return queryAll(this.db.doc, {
      TableName: this.table,
      KeyConditionExpression: 'userId = :u AND begins_with(#key, :prefix)',
      ExpressionAttributeNames: { '#key': 'key' },
      ExpressionAttributeValues: { ':u': userId, ':prefix': prefix },
      ConsistentRead: true,
    });
  }
}

function strip(item: Record<string, unknown>): FolderRecord {
  const { key: _key, ...folder } = item;
  return folder as unknown as FolderRecord;
}
