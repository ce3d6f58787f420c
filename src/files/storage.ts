/**
 * Where uploaded bytes live: one interface, two adapters (a local directory for embedded runs,
 * S3 in production). Metadata lives in DynamoDB (store/files.ts); the storage only knows keys.
 */
import type { Readable } from 'node:stream';

export interface FileStorage {
  readonly kind: 'local' | 's3';
  /**
   * Stores the bytes under `key` as they arrive. If `body` fails part-way (too large, refused
   * content) the put rejects with that error and nothing is left under `key`.
   */
  put(key: string, body: AsyncIterable<Uint8Array>, contentType: string): Promise<void>;
  /** The stored bytes as a stream, or undefined when there is no such object. */
  get(key: string): Promise<Readable | undefined>;
  /** Removes the object; removing one that is not there is not an error. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  close(): void;
}

/** Keys are `<userId>/<fileId>`, built by the server; anything else is a bug, never a path. */
const KEY = /^[\w-]{1,128}\/[\w-]{1,128}$/;

export function checkKey(key: string): string {
  if (!KEY.test(key)) throw new Error(`invalid storage key: ${JSON.stringify(key)}`);
  return key;
}
