/**
 * Persisted operations (PERSISTED_OPERATIONS): which documents the server runs.
 *
 * - `off`: any document, as sent.
 * - `allow`: any document, or a hash of one: from the manifest codegen writes
 *   (schema/persisted-operations.json: the client operations in schema/*.graphql), or registered
 *   by Apollo's automatic persisted queries (a hash the server lacks answers
 *   PERSISTED_QUERY_NOT_FOUND; the client sends the document with its hash, which must be the
 *   document's SHA-256; then the hash alone works, on every API process sharing the store).
 * - `require`: manifest entries only, by hash; a document is PERSISTED_QUERY_ONLY.
 *
 * A hash comes as `documentId` or as APQ's `extensions.persistedQuery.sha256Hash`. Over HTTP
 * yoga's persisted operations plugin applies the policy; over WebSocket, where yoga's request
 * pipeline does not run, `documentFor` applies the same one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.ts';
import type { ApqStore } from './apq-store.ts';

export const PERSISTED_OPERATION_MODES = ['off', 'allow', 'require'] as const;
export type PersistedOperationsMode = (typeof PERSISTED_OPERATION_MODES)[number];

/** Beside the operations it lists; resolved the same from src/server and from dist/server. */
export const MANIFEST_PATH = new URL('../../schema/persisted-operations.json', import.meta.url);

/** Largest document APQ registers: ours are a few KiB; the store stays bounded (apq-store.ts). */
export const APQ_MAX_DOCUMENT_BYTES = 32 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;

interface RequestParams {
  query?: unknown;
  documentId?: unknown;
  extensions?: unknown;
}

const error = (message: string, code: string) => new GraphQLError(message, { extensions: { code } });
const persistedOnly = () => error('PersistedQueryOnly: this server runs only its persisted operations; send the hash as `documentId`', ErrorCode.PERSISTED_QUERY_ONLY);
// Apollo clients read the message: on "PersistedQueryNotFound" they send the document with its hash.
const notFound = () => error('PersistedQueryNotFound', ErrorCode.PERSISTED_QUERY_NOT_FOUND);
const noDocument = () => error('Send a document as `query`, or a persisted operation’s hash as `documentId`', ErrorCode.BAD_USER_INPUT);

/** The hash a request names: `documentId`, else APQ's (version 1); null when it names none. */
export function persistedOperationId(params: RequestParams): string | null {
  if (typeof params.documentId === 'string') return params.documentId;
  const persisted = (params.extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | undefined)?.persistedQuery;
  return persisted?.version === 1 && typeof persisted.sha256Hash === 'string' ? persisted.sha256Hash : null;
}

export function loadManifest(file: URL | string = MANIFEST_PATH): ReadonlyMap<string, string> {
  return new Map(Object.entries(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>));
}

export class PersistedOperations {
  constructor(
    readonly mode: PersistedOperationsMode,
    private readonly manifest: ReadonlyMap<string, string>,
    private readonly store: ApqStore,
  ) {}

  /** The document a hash stands for, if this mode runs it. */
  async lookup(hash: string): Promise<string | null> {
    const listed = this.manifest.get(hash);
    if (listed !== undefined || this.mode !== 'allow' || !SHA256_HEX.test(hash)) return listed ?? null;
    return (await this.store.get(hash)) ?? null;
  }

  /**
   * APQ's registration (`allow`): a document sent with a hash is kept under it, once the hash is
   * checked to be the document's. Throws on a mismatch or a document too large to keep.
   */
  async register(params: RequestParams): Promise<void> {
    const hash = persistedOperationId(params);
    if (this.mode !== 'allow' || typeof params.query !== 'string' || !params.query || hash === null) return;
    const actual = crypto.createHash('sha256').update(params.query).digest('hex');
    if (actual !== hash) throw error('provided sha does not match query', ErrorCode.PERSISTED_QUERY_HASH_MISMATCH);
    if (this.manifest.has(hash)) return;
    if (Buffer.byteLength(params.query) > APQ_MAX_DOCUMENT_BYTES) throw error(`Documents over ${APQ_MAX_DOCUMENT_BYTES} bytes are not persisted; send them as they are`, ErrorCode.BAD_USER_INPUT);
    await this.store.set(hash, params.query);
  }

  /** The policy for a WebSocket subscribe message (an empty `query` means "by hash"). */
  async documentFor(params: RequestParams): Promise<string> {
    if (typeof params.query === 'string' && params.query) {
      if (this.mode === 'require') throw persistedOnly();
      await this.register(params);
      return params.query;
    }
    const hash = persistedOperationId(params);
    if (this.mode === 'off' || hash === null) throw noDocument();
    const document = await this.lookup(hash);
    if (document === null) throw notFound();
    return document;
  }

  /** The same policy over HTTP: APQ registration, then yoga's persisted operations plugin. */
  plugins(): Plugin[] {
    if (this.mode === 'off') return [];
    const registration: Plugin = {
      onParams: async ({ params }) => {
        await this.register(params as RequestParams);
      },
    };
    return [
      registration,
      usePersistedOperations({
        allowArbitraryOperations: this.mode === 'allow',
        extractPersistedOperationId: (params) => persistedOperationId(params as RequestParams),
        getPersistedOperation: (hash) => this.lookup(hash),
        customErrors: { persistedQueryOnly: persistedOnly, notFound, keyNotFound: noDocument },
      }),
    ];
  }
}
