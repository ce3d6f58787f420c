/**
 * Cursor pagination over DynamoDB Query: cursors are opaque base64url strings of the last
 * item's key, so a page is one Query from `ExclusiveStartKey`, never a Scan or an offset.
 */
import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { badInput } from '../errors.ts';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
}

export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}`, { argument: 'first' });
  }
  return first;
}

export function encodeCursor(key: Record<string, string>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes a cursor and checks that it holds exactly the expected string fields. */
export function decodeCursor(cursor: string, fields: readonly string[]): Record<string, string> {
  const invalid = () => badInput('after is not a valid cursor', { argument: 'after' });
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length !== fields.length || !fields.every((field) => typeof record[field] === 'string')) {
    throw invalid();
  }
  return record as Record<string, string>;
}

/**
 * One page of a Query from the cursor on: it reads one item more than asked, which is how it
 * knows whether another page follows. `startKey` turns the decoded cursor into the table's key.
 */
export async function queryPage<T = Record<string, unknown>>(
  doc: DynamoDBDocumentClient,
  query: Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>,
  page: PageRequest,
  cursor: { fields: readonly string[]; startKey(decoded: Record<string, string>): Record<string, unknown> },
): Promise<Page<T>> {
  const limit = pageSize(page.first);
  const start = page.after ? cursor.startKey(decodeCursor(page.after, cursor.fields)) : undefined;
  const { Items = [] } = await doc.send(new QueryCommand({ ...query, Limit: limit + 1, ExclusiveStartKey: start }));
  return { items: Items.slice(0, limit) as T[], hasNextPage: Items.length > limit };
}
