import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_LIMIT = 100;

/**
 * Every item of `keys` that exists, in no particular order: chunks of 100, and again for the
 * keys DynamoDB leaves unprocessed under load.
 */
export async function batchGetAll<T>(doc: DynamoDBDocumentClient, table: string, keys: readonly Record<string, unknown>[]): Promise<T[]> {
  const items: T[] = [];
  for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
    let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
      [table]: { Keys: keys.slice(start, start + BATCH_GET_LIMIT) },
    };
    while (request && Object.keys(request).length > 0) {
      const result = await doc.send(new BatchGetCommand({ RequestItems: request }));
      items.push(...((result.Responses?.[table] ?? []) as T[]));
      request = result.UnprocessedKeys as typeof request;
    }
  }
  return items;
}
