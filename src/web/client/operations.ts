/**
 * How the page sends an operation: by its persisted hash (codegen's `__meta__.hash`, listed in
 * schema/persisted-operations.json) unless the server runs documents only, as the page's
 * `gptql-persisted-operations` meta tag says (PERSISTED_OPERATIONS). Hashes are what a server in
 * `require` mode runs, and they are shorter to send.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';

const mode = typeof document === 'undefined' ? 'off' : (document.querySelector('meta[name="gptql-persisted-operations"]')?.getAttribute('content') ?? 'off');

/** The hash codegen gave a client operation (a key of schema/persisted-operations.json); undefined for any other document. */
export const persistedHashOf = (operation: object): string | undefined => (operation as { __meta__?: { hash?: string } }).__meta__?.hash?.replace(/^sha256:/, '');

/** The hash to send instead of the document, unless the server runs documents only. */
const hashToSend = (operation: object) => (mode === 'off' ? undefined : persistedHashOf(operation));

/** The body of an HTTP request (or a multipart upload's `operations`). */
export function operationBody<V>(operation: TypedDocumentNode<unknown, V>, variables: V): { query: string; variables: V } | { documentId: string; variables: V } {
  const hash = hashToSend(operation);
  return hash ? { documentId: hash, variables } : { query: print(operation), variables };
}

/** A graphql-ws subscribe payload: its `query` must be a string, so a hash travels as APQ's extension. */
export function subscribePayload<V extends Record<string, unknown>>(operation: TypedDocumentNode<unknown, V>, variables: V) {
  const hash = hashToSend(operation);
  return hash ? { query: '', variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } } : { query: print(operation), variables };
}
