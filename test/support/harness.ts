/**
 * Test harness: the real app, in-process, on a random port, with its own embedded data folder.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { loadConfig } from '../../src/config.ts';
import type { Logger } from '../../src/observability/logger.ts';
import type { Server } from 'node:http';
import type { Infrastructure } from '../../src/composition/infrastructure.ts';
import type { RunningWorker } from '../../src/composition/worker.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startProcess } from '../../src/server/process.ts';
import type { Services } from '../../src/services.ts';
import { outboxDir } from '../../src/auth/mailer.ts';
import { ConfirmSignUpDocument, LogInDocument, SignUpDocument } from '../../src/generated/graphql.ts';
import { parseGlobalId } from '../../src/schema/global-id.ts';
import { persistedHashOf } from '../../src/web/client/operations.ts';

export interface GraphQLResponse<T> {
  status: number;
  data?: T | null;
  errors?: GraphQLFormattedError[];
}

export interface TestApp {
  /** The API's services and HTTP server; stop() stops the whole process (worker included). */
  app: { services: Services; server: Server; stop(): Promise<void> };
  url: string;
  dataDir: string;
  env: Record<string, string>;
  /** The worker role, when ROLE=all. */
  worker?: RunningWorker;
  /** What the process stands on (queue, stream store, stores), for tests that act as another process would. */
  infra: Infrastructure;
  gql<T, V>(document: TypedDocumentNode<T, V>, variables?: V, token?: string): Promise<GraphQLResponse<T>>;
  /** Signs up, confirms with the code from the outbox and logs in; returns the tokens. */
  /** `id`: the user's global id (as GraphQL answers); `userId`: the bare one (as services take). */
  newUser(email?: string, password?: string): Promise<{ email: string; password: string; accessToken: string; refreshToken: string; id: string; userId: string }>;
  /** Latest code mailed to `email` for `purpose`. */
  readCode(email: string, purpose: 'confirm-sign-up' | 'reset-password'): Promise<string>;
  stop(): Promise<void>;
}

/** The newest code mailed to `email` for `purpose`, from the embedded outbox. */
export async function readOutboxCode(dataDir: string, email: string, purpose: 'confirm-sign-up' | 'reset-password'): Promise<string> {
  const folder = outboxDir(dataDir);
  const names = (await fs.readdir(folder)).filter((n) => n.endsWith('.json')).sort().reverse();
  for (const name of names) {
    const message = JSON.parse(await fs.readFile(path.join(folder, name), 'utf8')) as { to: string; purpose: string; code: string };
    if (message.to === email.toLowerCase() && message.purpose === purpose) return message.code;
  }
  throw new Error(`no ${purpose} code for ${email}`);
}

let counter = 0;
export const uniqueEmail = (prefix = 'user') => `${prefix}-${process.pid}-${Date.now()}-${counter++}@example.com`;

export async function postGraphQL<T>(url: string, body: unknown, token?: string, signal?: AbortSignal): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    signal,
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { data?: T; errors?: GraphQLFormattedError[] };
  return { status: response.status, ...json };
}

/**
 * A request body for a typed document: its text, or (`byHash`, for PERSISTED_OPERATIONS=require)
 * the hash codegen gave it, which the server looks up in schema/persisted-operations.json.
 */
export function operationBody<V>(document: TypedDocumentNode<unknown, V>, variables: V, byHash = false) {
  if (!byHash) return { query: print(document), variables };
  const hash = persistedHashOf(document);
  if (!hash) throw new Error('this document has no persisted hash: only schema/*.graphql operations do');
  return { documentId: hash, variables };
}

/** The bare id (what services and stores take) of a global id GraphQL answered with. */
export const rawIdOf = (id: string) => parseGlobalId(id)?.id ?? id;

/** Signs up on a local-auth server, confirms with the code from its outbox and logs in. */
export async function signUpUser(url: string, dataDir: string, email = uniqueEmail(), password = 'correct-horse-9', byHash = false) {
  const gql = <T, V>(document: TypedDocumentNode<T, V>, variables: V) => postGraphQL<T>(url, operationBody(document, variables, byHash));
  const signUp = await gql(SignUpDocument, { email, password });
  if (!signUp.data) throw new Error(JSON.stringify(signUp.errors));
  const code = await readOutboxCode(dataDir, email, 'confirm-sign-up');
  await gql(ConfirmSignUpDocument, { email, code });
  const logIn = await gql(LogInDocument, { email, password });
  if (!logIn.data) throw new Error(JSON.stringify(logIn.errors));
  // userId: the bare id services and stores take; id: the global id GraphQL answers with.
  const id = signUp.data.signUp.userId;
  return { email, password, id, userId: rawIdOf(id), ...logIn.data.logIn };
}

export async function startTestApp(env: Record<string, string> = {}, dataDir?: string, logger?: Logger): Promise<TestApp> {
  const dir = dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-test-')));
  // ROLE=api unless a test asks for `all`: most tests need no model, and the worker's engine
  // thread would only cost them time.
  const fullEnv = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', NODE_ENV: 'test', DATA_DIR: dir, ROLE: 'api', ...env };
  const config = loadConfig(fullEnv);
  const running = await startProcess(config, logger ?? createLogger(config.logLevel));
  const app = { services: running.api!.services, server: running.api!.server, stop: running.stop };
  const { url, worker } = running;
  // A server that runs only persisted operations is sent hashes.
  const byHash = config.graphql.persistedOperations === 'require';

  const harness: TestApp = {
    app,
    url,
    dataDir: dir,
    env: fullEnv,
    worker,
    infra: running.infra,
    gql: (document, variables, token) => postGraphQL(url, operationBody(document, variables as never, byHash), token),
    readCode: (email, purpose) => readOutboxCode(dir, email, purpose),
    newUser: (email, password) => signUpUser(url, dir, email, password, byHash),
    async stop() {
      await app.stop();
      if (!dataDir) await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

export const errorCodes = (response: { errors?: readonly GraphQLFormattedError[] }) =>
  (response.errors ?? []).map((error) => error.extensions?.code);
