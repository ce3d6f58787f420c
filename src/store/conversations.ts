import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { batchGetAll } from './batch-get.ts';
import type { Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';
import { encodeCursor, queryPage, type Page, type PageRequest } from './pagination.ts';
import { updateExpression } from './update-expression.ts';
import type { MessageRepository } from './messages.ts';

export interface ConversationRecord {
  userId: string;
  conversationId: string;
  title: string;
  /** `auto`: made from the first message, and replaced by the model's title after the first reply; otherwise (absent too) the user's, never replaced. */
  titleSource?: 'auto' | 'user';
  /** When the model was asked for a title (once per conversation). */
  titleRequestedAt?: string;
  systemPrompt?: string;
  /** Messages stored in it (user and assistant). */
  messageCount?: number;
  /** The message `messageCount` counted last: a repeated count of it changes nothing (see `touch`). */
  lastCountedId?: string;
  /** The leaf of the branch shown and continued; absent: the newest message. */
  activeLeafId?: string;
  pinned?: boolean;
  /** Left out of the conversation list unless asked for. */
  archived?: boolean;
  tags?: string[];
  folderId?: string;
  createdAt: string;
  updatedAt: string;
}

export interface ConversationKey {
  userId: string;
  conversationId: string;
}

export class ConversationRepository {
  constructor(
    private readonly db: Dynamo,
    private readonly messages: MessageRepository,
  ) {}

  private get table() {
    return this.db.tables.conversations;
  }

  async create(userId: string, input: { title: string; systemPrompt?: string; titleSource?: 'auto' }): Promise<ConversationRecord> {
    const now = new Date().toISOString();
    const record: ConversationRecord = {
      userId,
      conversationId: newId(),
      title: input.title,
      titleSource: input.titleSource,
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
    const items = await batchGetAll<ConversationRecord>(
      this.db.doc,
      this.table,
      keys.map(({ userId, conversationId }) => ({ userId, conversationId })),
    );
    const found = new Map(items.map((item) => [`${item.userId}/${item.conversationId}`, item]));
    return keys.map((k) => found.get(`${k.userId}/${k.conversationId}`));
  }

  /** Newest first: ULID keys read in descending order. */
  async list(userId: string, page: PageRequest): Promise<Page<ConversationRecord>> {
    return queryPage<ConversationRecord>(
      this.db.doc,
      {
        TableName: this.table,
        KeyConditionExpression: 'userId = :userId',
        ExpressionAttributeValues: { ':userId': userId },
        ScanIndexForward: false,
      },
      page,
      { fields: ['conversationId'], startKey: ({ conversationId }) => ({ userId, conversationId }) },
    );
  }

  static cursorOf(record: ConversationRecord): string {
    return encodeCursor({ conversationId: record.conversationId });
  }

  /** Returns the updated record, or undefined when the user has no such conversation. */
  async update(
    userId: string,
    conversationId: string,
    changes: { title?: string; titleSource?: 'user'; systemPrompt?: string; activeLeafId?: string },
  ): Promise<ConversationRecord | undefined> {
    return this.conditionalUpdate(userId, conversationId, {
      ...updateExpression({ updatedAt: new Date().toISOString(), ...changes }),
      ConditionExpression: 'attribute_exists(conversationId)',
    });
  }

  /**
   * Records new messages: `updatedAt` moves, `messageCount` grows and, given `activeLeafId`, the
   * active branch ends there. Undefined if the conversation is gone.
   *
   * `countedId`, the message counted, makes it idempotent: the record keeps the last one counted
   * and counts it only once, however often it is sent (the SDK's retry of a write whose answer
   * was lost, a job delivered again after its worker stored the reply). It is then the record as it is.
   */
  async touch(userId: string, conversationId: string, newMessages: number, options: { activeLeafId?: string; countedId?: string } = {}): Promise<ConversationRecord | undefined> {
    const { activeLeafId, countedId } = options;
    const updated = await this.conditionalUpdate(userId, conversationId, {
      UpdateExpression: `SET updatedAt = :now${activeLeafId ? ', activeLeafId = :leaf' : ''}${countedId ? ', lastCountedId = :counted' : ''} ADD messageCount :n`,
      ConditionExpression: `attribute_exists(conversationId)${countedId ? ' AND (attribute_not_exists(lastCountedId) OR lastCountedId <> :counted)' : ''}`,
      ExpressionAttributeValues: {
        ':now': new Date().toISOString(),
        ':n': newMessages,
        ...(activeLeafId ? { ':leaf': activeLeafId } : {}),
        ...(countedId ? { ':counted': countedId } : {}),
      },
    });
    return updated ?? (countedId ? this.get(userId, conversationId) : undefined);
  }

  /**
   * Sets how the conversation is organised; `false`, an empty list and null remove the attribute.
   * Undefined when the user has no such conversation.
   */
  async organise(
    userId: string,
    conversationId: string,
    changes: { pinned?: boolean; archived?: boolean; tags?: string[]; folderId?: string | null },
  ): Promise<ConversationRecord | undefined> {
    const entries = Object.entries(changes).filter(([, value]) => value !== undefined);
    const removed = ([, value]: [string, unknown]) => value === false || value === null || (Array.isArray(value) && value.length === 0);
    return this.conditionalUpdate(userId, conversationId, {
      ...updateExpression(
        Object.fromEntries(entries.filter((entry) => !removed(entry))),
        entries.filter(removed).map(([field]) => field),
      ),
      ConditionExpression: 'attribute_exists(conversationId)',
    });
  }

  /** Marks the conversation's title as asked of the model; false when it was already, or the title is the user's. */
  async claimAutoTitle(userId: string, conversationId: string): Promise<boolean> {
    const claimed = await this.conditionalUpdate(userId, conversationId, {
      UpdateExpression: 'SET titleRequestedAt = :now',
      ConditionExpression: 'titleSource = :auto AND attribute_not_exists(titleRequestedAt)',
      ExpressionAttributeValues: { ':now': new Date().toISOString(), ':auto': 'auto' },
    });
    return claimed !== undefined;
  }

  /** Sets the model's title, unless the user has set one meanwhile. Undefined when not set. */
  async setAutoTitle(userId: string, conversationId: string, title: string): Promise<ConversationRecord | undefined> {
    return this.conditionalUpdate(userId, conversationId, {
      UpdateExpression: 'SET title = :title',
      ConditionExpression: 'titleSource = :auto',
      ExpressionAttributeValues: { ':title': title, ':auto': 'auto' },
    });
  }

  /**
   * Moves the active branch's end from `from` to `to`, unless it has moved elsewhere meanwhile
   * (the user switched branches while a reply was written). Undefined when it did not move.
   */
  async moveActiveLeaf(userId: string, conversationId: string, to: string, from: string): Promise<ConversationRecord | undefined> {
    return this.conditionalUpdate(userId, conversationId, {
      UpdateExpression: 'SET activeLeafId = :to',
      ConditionExpression: 'attribute_exists(conversationId) AND activeLeafId = :from',
      ExpressionAttributeValues: { ':to': to, ':from': from },
    });
  }

  private async conditionalUpdate(
    userId: string,
    conversationId: string,
    update: { UpdateExpression: string; ConditionExpression: string; ExpressionAttributeValues?: Record<string, unknown>; ExpressionAttributeNames?: Record<string, string> },
  ): Promise<ConversationRecord | undefined> {
    try {
      const { Attributes } = await this.db.doc.send(
        new UpdateCommand({ TableName: this.table, Key: { userId, conversationId }, ...update, ReturnValues: 'ALL_NEW' }),
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
