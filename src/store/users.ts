import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../auth/identity.ts';
import type { Dynamo } from './dynamo.ts';
import { encodeCursor, queryPage, type Page, type PageRequest } from './pagination.ts';
import { TTL_ATTRIBUTE, USER_INDEX } from './tables.ts';

export type UserStatus = 'UNCONFIRMED' | 'CONFIRMED' | 'DISABLED';

/** A one-time code (email confirmation, password reset), stored hashed. */
export interface PendingCode {
  hash: string;
  expiresAt: number;
  attempts: number;
}

export interface UserRecord {
  userId: string;
  email: string;
  role: Role;
  status: UserStatus;
  createdAt: string;
  /** Local provider only. */
  passwordHash?: string;
  confirmationCode?: PendingCode;
  resetCode?: PendingCode;
}

export interface SessionRecord {
  userId: string;
  sessionId: string;
  secretHash: string;
  /** Epoch seconds; also the DynamoDB TTL attribute. */
  expiresAt: number;
}

const PROFILE = 'PROFILE';
const LIST_KEY = 'USER';
const emailKey = (email: string) => ({ userId: `EMAIL#${email}`, sk: 'EMAIL' });
const sessionKey = (userId: string, sessionId: string) => ({ userId, sk: `SESSION#${sessionId}` });

function toUser(item: Record<string, unknown>): UserRecord {
  const { sk: _sk, listKey: _listKey, ...user } = item;
  return user as unknown as UserRecord;
}

export class UserRepository {
  constructor(private readonly db: Dynamo) {}

  private get table() {
    return this.db.tables.users;
  }

  /**
   * Creates the profile after claiming the email. Returns false when the email is taken
   * (the claim is a conditional put: DynamoDB has no unique indexes).
   */
  async create(user: UserRecord): Promise<boolean> {
    try {
      await this.db.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...emailKey(user.email), ownerId: user.userId },
          ConditionExpression: 'attribute_not_exists(userId)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    try {
      await this.db.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...user, sk: PROFILE, listKey: LIST_KEY },
          ConditionExpression: 'attribute_not_exists(userId)',
        }),
      );
    } catch (error) {
      await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: emailKey(user.email) }));
      throw error;
    }
    return true;
  }

  /** Creates the profile of an externally managed identity (Cognito) the first time it is seen. */
  async ensure(user: UserRecord): Promise<UserRecord> {
    const existing = await this.getById(user.userId);
    if (existing) return existing;
    await this.create(user);
    return (await this.getById(user.userId)) ?? user;
  }

  async getById(userId: string): Promise<UserRecord | undefined> {
    const { Item } = await this.db.doc.send(
      new GetCommand({ TableName: this.table, Key: { userId, sk: PROFILE }, ConsistentRead: true }),
    );
    return Item ? toUser(Item) : undefined;
  }

  async getByEmail(email: string): Promise<UserRecord | undefined> {
    const { Item } = await this.db.doc.send(
      new GetCommand({ TableName: this.table, Key: emailKey(email), ConsistentRead: true }),
    );
    return Item ? this.getById(Item.ownerId as string) : undefined;
  }

  /** Sets fields of the profile; `null` removes one. Returns false when the user is gone. */
  async update(userId: string, changes: Partial<Record<keyof UserRecord, unknown>>): Promise<boolean> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      if (value === null) removes.push(`#${field}`);
      else {
        values[`:${field}`] = value;
        sets.push(`#${field} = :${field}`);
      }
    }
    const expression = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : '']
      .filter(Boolean)
      .join(' ');
    try {
      await this.db.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { userId, sk: PROFILE },
          UpdateExpression: expression,
          ConditionExpression: 'attribute_exists(userId)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Newest first, through the createdAt index. */
  async list(page: PageRequest): Promise<Page<UserRecord>> {
    const result = await queryPage(
      this.db.doc,
      {
        TableName: this.table,
        IndexName: USER_INDEX.byCreatedAt,
        KeyConditionExpression: 'listKey = :k',
        ExpressionAttributeValues: { ':k': LIST_KEY },
        ScanIndexForward: false,
      },
      page,
      {
        fields: ['createdAt', 'userId'],
        startKey: ({ createdAt, userId }) => ({ listKey: LIST_KEY, createdAt, userId, sk: PROFILE }),
      },
    );
    return { items: result.items.map(toUser), hasNextPage: result.hasNextPage };
  }

  static cursorOf(user: UserRecord): string {
    return encodeCursor({ createdAt: user.createdAt, userId: user.userId });
  }

  async putSession(session: SessionRecord): Promise<void> {
    await this.db.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          ...sessionKey(session.userId, session.sessionId),
          secretHash: session.secretHash,
          [TTL_ATTRIBUTE]: session.expiresAt,
        },
      }),
    );
  }

  async getSession(userId: string, sessionId: string): Promise<SessionRecord | undefined> {
    const { Item } = await this.db.doc.send(
      new GetCommand({ TableName: this.table, Key: sessionKey(userId, sessionId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    return { userId, sessionId, secretHash: Item.secretHash as string, expiresAt: Item[TTL_ATTRIBUTE] as number };
  }

  /**
   * Swaps the session's secret only if it still holds the presented one, so that two refreshes
   * racing with the same token cannot both succeed. Returns false when the secret was stale.
   */
  async rotateSession(session: SessionRecord, previousHash: string): Promise<boolean> {
    try {
      await this.db.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: sessionKey(session.userId, session.sessionId),
          UpdateExpression: 'SET secretHash = :next, #ttl = :exp',
          ConditionExpression: 'secretHash = :previous',
          ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ':next': session.secretHash, ':previous': previousHash, ':exp': session.expiresAt },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async deleteSession(userId: string, sessionId: string): Promise<void> {
    await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: sessionKey(userId, sessionId) }));
  }

  async deleteAllSessions(userId: string): Promise<void> {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'userId = :u AND begins_with(sk, :s)',
          ExpressionAttributeValues: { ':u': userId, ':s': 'SESSION#' },
          ProjectionExpression: 'userId, sk',
          ExclusiveStartKey: start,
        }),
      );
      for (const key of page.Items ?? []) {
        await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: key }));
      }
      start = page.LastEvaluatedKey;
    } while (start);
  }
}
