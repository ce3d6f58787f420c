/** A graphql-ws client for tests: typed documents in, all results of a subscription out. */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type FormattedExecutionResult } from 'graphql';

type ExecutionResult<T> = FormattedExecutionResult<T, unknown>;
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export function wsClient(url: string, accessToken: string): Client {
  return createClient({
    url: `${url.replace('http', 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { accessToken },
    retryAttempts: 0,
  });
}

/** Runs a subscription to its end; `onNext` sees each result as it arrives. */
export function collectSubscription<T, V>(
  client: Client,
  document: TypedDocumentNode<T, V>,
  variables: V,
  onNext?: (result: ExecutionResult<T>) => void,
): Promise<ExecutionResult<T>[]> {
  return new Promise((resolve, reject) => {
    const results: ExecutionResult<T>[] = [];
    client.subscribe<T>(
      { query: print(document), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          results.push(result);
          onNext?.(result);
        },
        error: reject,
        complete: () => resolve(results),
      },
    );
  });
}
