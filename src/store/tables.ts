/**
 * Table definitions: the one place where keys and indexes are written down. Start-up creates
 * tables from these in embedded/endpoint mode, and the Terraform tests compare against them.
 *
 * Access patterns (no Scan on any request path):
 * - users: a user's profile `{userId, sk: PROFILE}`; refresh sessions `{userId, sk: SESSION#id}`;
 *   an email claim `{userId: EMAIL#address, sk: EMAIL}` that makes emails unique (a conditional
 *   put, since DynamoDB has no unique secondary index) and answers log-in lookups consistently;
 *   admin listing through `byCreatedAt` (partition `listKey = USER`).
 * - conversations: `{userId, conversationId}`, ids are ULIDs so a descending Query is newest first;
 *   the owner is in the key, so another user's id is simply not found.
 * - messages: `{conversationId, messageId}` (ULIDs, ascending = chronological); `byMessageId`
 *   finds a message's conversation from its id alone (`regenerate(messageId)`), and the caller
 *   then checks the owner.
 * - files: `{userId, fileId}`.
 * - labels: a user's folders `{userId, key: FOLDER#id}` and the entries that list conversations
 *   by view `{userId, key: IN#<view>#<conversationId>}` (src/store/labels.ts): a filtered list is
 *   one Query of the user's partition, newest first.
 * - shares: a share's snapshot `{shareId, part: META | M#<n>}` (the id is 128 random bits, read
 *   by anyone who has it); `byOwner` (`owner`, `listKey` = createdAt#shareId, on META only) lists
 *   a user's links, newest first.
 * - usage: token counters, one item per subject and UTC day, `{subject: USER#id | MODEL#name,
 *   period: DAY#yyyy-mm-dd}`, added to with `ADD` (src/store/usage.ts); a user's quota override
 *   `{subject: USER#id, period: QUOTA}`. A quota check reads a user's month in one Query
 *   (`period >= DAY#<first of month>` reaches `QUOTA` too); `byDay` (`day`, `subject`) lists one
 *   day's users or models in key order, which is how `usageReport` pages without a Scan.
 * - usageRecords: one item per generation, `{userId, generationId}`, written first and
 *   conditionally, so that a generation is counted once however often it is recorded; expires
 *   after USAGE_RECORD_TTL_DAYS.
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export interface TableNames {
  users: string;
  conversations: string;
  messages: string;
  files: string;
  labels: string;
  shares: string;
  usage: string;
  usageRecords: string;
}

export const USER_INDEX = { byCreatedAt: 'byCreatedAt' } as const;
export const MESSAGE_INDEX = { byMessageId: 'byMessageId' } as const;
export const USAGE_INDEX = { byDay: 'byDay' } as const;
export const SHARE_INDEX = { byOwner: 'byOwner' } as const;
/** The counters a `byDay` row carries: the report reads them from the index alone. */
export const USAGE_COUNTERS = ['promptTokens', 'completionTokens', 'requests'] as const;

/** Attribute that DynamoDB's TTL deletes expired items by (epoch seconds). */
export const TTL_ATTRIBUTE = 'expiresAt';

export function tableDefinitions(names: TableNames): Record<keyof TableNames, CreateTableCommandInput> {
  return {
    users: {
      TableName: names.users,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'listKey', AttributeType: 'S' },
        { AttributeName: 'createdAt', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: USER_INDEX.byCreatedAt,
          KeySchema: [
            { AttributeName: 'listKey', KeyType: 'HASH' },
            { AttributeName: 'createdAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    conversations: {
      TableName: names.conversations,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'conversationId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'conversationId', KeyType: 'RANGE' },
      ],
    },
    messages: {
      TableName: names.messages,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'conversationId', AttributeType: 'S' },
        { AttributeName: 'messageId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'conversationId', KeyType: 'HASH' },
        { AttributeName: 'messageId', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: MESSAGE_INDEX.byMessageId,
          KeySchema: [{ AttributeName: 'messageId', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    },
    files: {
      TableName: names.files,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'fileId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'fileId', KeyType: 'RANGE' },
      ],
    },
    labels: {
      TableName: names.labels,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'key', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'key', KeyType: 'RANGE' },
      ],
    },
    shares: {
      TableName: names.shares,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'shareId', AttributeType: 'S' },
        { AttributeName: 'part', AttributeType: 'S' },
        { AttributeName: 'owner', AttributeType: 'S' },
        { AttributeName: 'listKey', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'shareId', KeyType: 'HASH' },
        { AttributeName: 'part', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: SHARE_INDEX.byOwner,
          KeySchema: [
            { AttributeName: 'owner', KeyType: 'HASH' },
            { AttributeName: 'listKey', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    },
    usage: {
      TableName: names.usage,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'subject', AttributeType: 'S' },
        { AttributeName: 'period', AttributeType: 'S' },
        { AttributeName: 'day', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'subject', KeyType: 'HASH' },
        { AttributeName: 'period', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: USAGE_INDEX.byDay,
          KeySchema: [
            { AttributeName: 'day', KeyType: 'HASH' },
            { AttributeName: 'subject', KeyType: 'RANGE' },
          ],
          // Not the bookkeeping attributes: removing a recorded generation's mark then writes no index row.
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...USAGE_COUNTERS] },
        },
      ],
    },
    usageRecords: {
      TableName: names.usageRecords,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'userId', AttributeType: 'S' },
        { AttributeName: 'generationId', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'userId', KeyType: 'HASH' },
        { AttributeName: 'generationId', KeyType: 'RANGE' },
      ],
    },
  };
}
