/**
 * The page's only way to the server: typed GraphQL documents over HTTP (queries, mutations) and
 * graphql-ws (subscriptions), with the session's tokens attached and refreshed when they expire.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type Client } from 'graphql-ws';
import { LogInDocument, LogOutDocument, RefreshSessionDocument, type SessionTokensFragment } from '../../generated/graphql.ts';
import { operationBody, subscribePayload } from './operations.ts';
import { session, type Tokens } from './session.ts';

/** A GraphQL error with its contract code (`UNAUTHENTICATED`, `NOT_FOUND`, …). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface GraphQLResult<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Refresh this long before the access token expires, so that a request never races its expiry. */
const REFRESH_MARGIN_MS = 30_000;

function toTokens(session: SessionTokensFragment): Tokens {
  return { accessToken: session.accessToken, refreshToken: session.refreshToken, expiresAt: Date.now() + session.expiresIn * 1000 };
}

function firstError(result: GraphQLResult<unknown>): ApiError | undefined {
  const error = result.errors?.[0];
  return error ? new ApiError(error.message, error.extensions?.code) : undefined;
}

export interface Sink<T> {
  next(data: T): void;
  error(error: unknown): void;
  complete(): void;
}

export class Api {
  private tokens = session.tokens();
  private refreshing: Promise<Tokens> | undefined;
  private ws: Client | undefined;
  /** Called once the session is gone for good (refresh refused); the page shows the log-in form. */
  onSignedOut: () => void = () => {};

  get signedIn(): boolean {
    return this.tokens !== undefined;
  }

  async logIn(email: string, password: string): Promise<void> {
    const data = await this.request(LogInDocument, { email, password }, false);
    this.setTokens(toTokens(data.logIn));
  }

  async logOut(): Promise<void> {
    const refreshToken = this.tokens?.refreshToken;
    try {
      if (refreshToken) await this.request(LogOutDocument, { refreshToken });
    } finally {
      this.setTokens(undefined);
      session.clear();
    }
  }

  /** Runs a query or mutation; an expired token is refreshed and the request tried once more. */
  async request<T, V>(document: TypedDocumentNode<T, V>, variables: V, auth = true): Promise<T> {
    const once = async () => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          ...(auth ? { authorization: `Bearer ${await this.accessToken()}` } : {}),
        },
        body: JSON.stringify(operationBody(document, variables)),
      });
      return (await response.json()) as GraphQLResult<T>;
    };
    let result = await once();
    if (auth && firstError(result)?.code === 'UNAUTHENTICATED' && this.tokens) {
      await this.refresh();
      result = await once();
    }
    const error = firstError(result);
    if (error || !result.data) {
      if (auth && error?.code === 'UNAUTHENTICATED') this.signOut();
      throw error ?? new ApiError('The server sent no data');
    }
    return result.data;
  }

  /** A fetch with the bearer token, for the routes beside GraphQL (export, upload). */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const send = async () => fetch(url, { ...init, headers: { ...init.headers, authorization: `Bearer ${await this.accessToken()}` } });
    const response = await send();
    if (response.status !== 401 || !this.tokens) return response;
    await this.refresh();
    return send();
  }

  /** Starts a subscription over graphql-ws; returns a function that ends it. */
  subscribe<T, V extends Record<string, unknown>>(document: TypedDocumentNode<T, V>, variables: V, sink: Sink<T>): () => void {
    return this.socket().subscribe<T>(
      subscribePayload(document, variables),
      {
        next: (result) => {
          const error = firstError(result as GraphQLResult<T>);
          if (error) sink.error(error);
          else if (result.data) sink.next(result.data);
        },
        error: (error) => sink.error(error),
        complete: () => sink.complete(),
      },
    );
  }

  /**
   * Closes the WebSocket so that the next subscription connects again with a fresh token (the
   * server closes with 4401 when the token it was given expires).
   */
  resetSocket(): void {
    void this.ws?.dispose();
    this.ws = undefined;
  }

  private socket(): Client {
    this.ws ??= createClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
      // Asked on every (re)connection, so a reconnect after a refresh uses the new token.
      connectionParams: async () => ({ accessToken: await this.accessToken() }),
      retryAttempts: 3,
    });
    return this.ws;
  }

  private async accessToken(): Promise<string> {
    if (!this.tokens) throw new ApiError('Not logged in', 'UNAUTHENTICATED');
    if (this.tokens.expiresAt - REFRESH_MARGIN_MS < Date.now()) return (await this.refresh()).accessToken;
    return this.tokens.accessToken;
  }

  /** One refresh at a time: local refresh tokens are good once, so two in parallel would fail. */
  private refresh(): Promise<Tokens> {
    const refreshToken = this.tokens?.refreshToken;
    if (!refreshToken) return Promise.reject(new ApiError('Not logged in', 'UNAUTHENTICATED'));
    this.refreshing ??= this.request(RefreshSessionDocument, { refreshToken }, false)
      .then((data) => {
        const tokens = toTokens(data.refreshSession);
        this.setTokens(tokens);
        return tokens;
      })
      .catch((error: unknown) => {
        this.signOut();
        throw error;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private setTokens(tokens: Tokens | undefined): void {
    this.tokens = tokens;
    session.setTokens(tokens);
    if (!tokens) this.resetSocket();
  }

  private signOut(): void {
    if (!this.tokens) return;
    this.setTokens(undefined);
    session.clear();
    this.onSignedOut();
  }
}
