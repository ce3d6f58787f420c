/**
 * API keys, in the users table: `{userId, sk: APIKEY#<keyId>}` (name, prefix, dates, hash) and a
 * lookup item `{userId: APIKEYHASH#<sha256>, sk: APIKEY}` naming the owner, read consistently on
 * every request, so a revoked key is refused at once on every process. Only the hash is stored:
 * SHA-256 rather than a slow password hash, because a key is 32 random bytes that no dictionary
 * or brute force can reach, and it is checked on every request.
 */
import crypto from 'node:crypto';
import baseX from 'base-x';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';
import { queryAll } from './query-all.ts';

export interface ApiKeyRecord {
  userId: string;
  keyId: string;
  name: string;
  /** The key's first characters, to tell keys apart in a list. */
  prefix: string;
  createdAt: string;
  expiresAt?: string;
  lastUsedAt?: string;
}

export const API_KEY_PREFIX = 'gq_';
const base62 = baseX('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
const KEY = /^gq_[0-9A-Za-z]{40,50}$/;
/** How stale `lastUsedAt` may get: a key used all the time is not written on every request. */
const LAST_USED_RESOLUTION_MS = 60_000;

const hashOf = (key: string) => crypto.createHash('sha256').update(key).digest('hex');
const keyItem = (userId: string, keyId: string) => ({ userId, sk: `APIKEY#${keyId}` });
const lookupItem = (hash: string) => ({ userId: `APIKEYHASH#${hash}`, sk: 'APIKEY' });

export const looksLikeApiKey = (token: string) => token.startsWith(API_KEY_PREFIX);

function toRecord(item: Record<string, unknown>): ApiKeyRecord {
  const { sk: _sk, hash: _hash, ...record } = item;
  return record as unknown as ApiKeyRecord;
}

export class ApiKeyRepository {
  constructor(private readonly db: Dynamo) {}

  private get table() {
    return this.db.tables.users;
  }

  /** A new key: the secret is returned here once, and only its hash is kept. */
  async create(userId: string, input: { name: string; expiresAt?: string }): Promise<{ key: string; record: ApiKeyRecord }> {
    const key = `${API_KEY_PREFIX}${base62.encode(crypto.randomBytes(32))}`;
    const hash = hashOf(key);
    const record: ApiKeyRecord = { userId, keyId: newId(), name: input.name, prefix: key.slice(0, 8), createdAt: new Date().toISOString(), expiresAt: input.expiresAt };
    // The lookup last: a key is usable only once its listed record exists.
    await this.db.doc.send(new PutCommand({ TableName: this.table, Item: { ...keyItem(userId, record.keyId), ...record, hash } }));
    await this.db.doc.send(new PutCommand({ TableName: this.table, Item: { ...lookupItem(hash), owner: userId, keyId: record.keyId } }));
    return { key, record };
  }

  async list(userId: string): Promise<ApiKeyRecord[]> {
    const items = await queryAll(this.db.doc, {
      TableName: this.table,
      KeyConditionExpression: 'userId = :u AND begins_with(sk, :k)',
      ExpressionAttributeValues: { ':u': userId, ':k': 'APIKEY#' },
      ConsistentRead: true,
    });
    return items.map(toRecord);
  }

  /** The key's record, if the key is one that exists (expiry is the caller's to check). */
  async find(key: string): Promise<ApiKeyRecord | undefined> {
    if (!KEY.test(key)) return undefined;
    const hash = hashOf(key);
    const { Item: lookup } = await this.db.doc.send(new GetCommand({ TableName: this.table, Key: lookupItem(hash), ConsistentRead: true }));
    if (!lookup) return undefined;
    const { Item } = await this.db.doc.send(new GetCommand({ TableName: this.table, Key: keyItem(lookup.owner as string, lookup.keyId as string), ConsistentRead: true }));
    return Item && Item.hash === hash ? toRecord(Item) : undefined;
  }

  /** Notes that the key was used, at most once a minute. */
  async touch(record: ApiKeyRecord, now = new Date()): Promise<void> {
    if (record.lastUsedAt && now.getTime() - Date.parse(record.lastUsedAt) < LAST_USED_RESOLUTION_MS) return;
    await this.db.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keyItem(record.userId, record.keyId),
        UpdateExpression: 'SET lastUsedAt = :now',
        ConditionExpression: 'attribute_exists(keyId)',
        ExpressionAttributeValues: { ':now': now.toISOString() },
      }),
    ).catch(() => undefined); // revoked meanwhile: nothing to note
  }

  /** Revokes the user's key: refused from the next request on. False when the user has no such key. */
  async revoke(userId: string, keyId: string): Promise<boolean> {
    const { Attributes } = await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: keyItem(userId, keyId), ReturnValues: 'ALL_OLD' }));
    if (!Attributes) return false;
    await this.db.doc.send(new DeleteCommand({ TableName: this.table, Key: lookupItem(Attributes.hash as string) }));
    return true;
  }
}
