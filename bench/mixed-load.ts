/**
 * The mixed workload of `npm run load` and `npm run soak`: virtual users that behave like chat
 * clients, against one gptql server on loopback. Each user logs in, keeps one WebSocket open,
 * and loops: list conversations, send a message (a new conversation every few turns), stream
 * the reply to its end, sometimes reopen the conversation's messages, then think for a moment.
 * It logs in again every few turns, as sessions end. Beside them, a probe asks /health and
 * /ready twice a second, like a load balancer. Counts are fixed and every wait has a timeout,
 * so the load is bounded whatever the server does.
 */
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { postGraphQL, type GraphQLResponse } from '../test/support/harness.ts';
import { wsClient } from '../test/support/ws-client.ts';
import { ConversationDocument, ConversationsDocument, GenerationEventsDocument, LogInDocument, SendMessageDocument } from '../src/generated/graphql.ts';

export const OPERATIONS = ['logIn', 'conversations', 'sendMessage', 'firstToken', 'reply', 'conversation', 'health'] as const;
export type Operation = (typeof OPERATIONS)[number];

export interface MixedLoadOptions {
  url: string;
  /** One signed-up account per virtual user. */
  accounts: readonly { email: string; password: string }[];
  durationMs: number;
  /** Tokens per reply: short replies keep the model from being the only thing measured. */
  maxTokens?: number;
  thinkMs?: [min: number, max: number];
}

/** Latencies (ms) of successful operations and failures by reason, per operation. */
export class LoadRecorder {
  readonly latencies = new Map<Operation, number[]>(OPERATIONS.map((op) => [op, []]));
  readonly failures = new Map<Operation, Map<string, number>>(OPERATIONS.map((op) => [op, new Map()]));

  ok(op: Operation, ms: number) {
    this.latencies.get(op)!.push(ms);
  }

  fail(op: Operation, reason: string) {
    const reasons = this.failures.get(op)!;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }

  failed(op: Operation): number {
    return [...this.failures.get(op)!.values()].reduce((a, b) => a + b, 0);
  }

  get total(): number {
    return OPERATIONS.reduce((sum, op) => sum + this.latencies.get(op)!.length + this.failed(op), 0);
  }

  get errorRate(): number {
    const failed = OPERATIONS.reduce((sum, op) => sum + this.failed(op), 0);
    return this.total === 0 ? 0 : failed / this.total;
  }
}

const RELOGIN_EVERY = 20;
const NEW_CONVERSATION_EVERY = 4;
const REOPEN_EVERY = 3;
const STREAM_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
const PROBE_INTERVAL_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class OperationError extends Error {}

/** Times `run`; a thrown error or a GraphQL error counts as a failure with its code. */
async function timed<T>(recorder: LoadRecorder, op: Operation, run: () => Promise<GraphQLResponse<T>>): Promise<T> {
  const start = performance.now();
  let response: GraphQLResponse<T>;
  try {
    response = await run();
  } catch (error) {
    recorder.fail(op, (error as Error).name === 'TimeoutError' ? 'timeout' : 'network');
    throw new OperationError(op);
  }
  if (response.status !== 200 || !response.data || response.errors?.length) {
    recorder.fail(op, String(response.errors?.[0]?.extensions?.code ?? `HTTP ${response.status}`));
    throw new OperationError(op);
  }
  recorder.ok(op, performance.now() - start);
  return response.data;
}

function gql<T, V>(url: string, document: TypedDocumentNode<T, V>, variables: V, token?: string): Promise<GraphQLResponse<T>> {
  return postGraphQL<T>(url, { query: print(document), variables }, token, AbortSignal.timeout(REQUEST_TIMEOUT_MS));
}

/** Follows a generation to its end over the user's WebSocket, timing first token and whole reply from `sentAt`. */
function streamReply(client: Client, id: string, sentAt: number, recorder: LoadRecorder): Promise<void> {
  return new Promise((resolve) => {
    let firstToken = false;
    let settled = false;
    const settle = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      if (failure) recorder.fail('reply', failure);
      else recorder.ok('reply', performance.now() - sentAt);
      resolve();
    };
    const timer = setTimeout(() => settle('timeout'), STREAM_TIMEOUT_MS);
    const unsubscribe = client.subscribe(
      { query: print(GenerationEventsDocument), variables: { id } },
      {
        next: ({ data, errors }) => {
          const event = (data as { generation?: { __typename: string; code?: string } } | null | undefined)?.generation;
          if (errors?.length || !event) return settle(String(errors?.[0]?.extensions?.code ?? 'no data'));
          if (event.__typename === 'GenerationToken' && !firstToken) {
            firstToken = true;
            recorder.ok('firstToken', performance.now() - sentAt);
          }
          if (event.__typename === 'GenerationFailed') settle(event.code ?? 'failed');
          if (event.__typename === 'GenerationCompleted') settle();
        },
        error: () => settle('stream error'),
        complete: () => settle(firstToken ? undefined : 'ended without events'),
      },
    );
  });
}

async function virtualUser(options: MixedLoadOptions, account: { email: string; password: string }, k: number, deadline: number, recorder: LoadRecorder) {
  const { url, maxTokens = 24, thinkMs = [500, 1500] } = options;
  let client: Client | undefined;
  let token = '';
  let conversationId: string | undefined;
  try {
    for (let turn = 0; Date.now() < deadline; turn++) {
      try {
        if (!client || turn % RELOGIN_EVERY === 0) {
          await client?.dispose();
          client = undefined;
          token = (await timed(recorder, 'logIn', () => gql(url, LogInDocument, account))).logIn.accessToken;
          client = wsClient(url, token);
        }
        await timed(recorder, 'conversations', () => gql(url, ConversationsDocument, { first: 20 }, token));
        if (turn % NEW_CONVERSATION_EVERY === 0) conversationId = undefined;
        const sentAt = performance.now();
        const input = { conversationId, content: `Question ${turn} from user ${k}: tell me about the sea.`, params: { maxTokens } };
        const sent = await timed(recorder, 'sendMessage', () => gql(url, SendMessageDocument, { input }, token));
        conversationId = sent.sendMessage.conversation?.id;
        await streamReply(client, sent.sendMessage.id, sentAt, recorder);
        if (conversationId && turn % REOPEN_EVERY === 0) {
          const id = conversationId;
          await timed(recorder, 'conversation', () => gql(url, ConversationDocument, { id, first: 50 }, token));
        }
      } catch (error) {
        if (!(error instanceof OperationError)) throw error;
        // Recorded already; a real client would back off before trying again.
      }
      await sleep(thinkMs[0] + Math.random() * (thinkMs[1] - thinkMs[0]));
    }
  } finally {
    await client?.dispose();
  }
}

async function probe(url: string, deadline: number, recorder: LoadRecorder) {
  for (let i = 0; Date.now() < deadline; i++) {
    const start = performance.now();
    try {
      const response = await fetch(`${url}/${i % 2 ? 'ready' : 'health'}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await response.arrayBuffer();
      if (response.ok) recorder.ok('health', performance.now() - start);
      else recorder.fail('health', `HTTP ${response.status}`);
    } catch {
      recorder.fail('health', 'network');
    }
    await sleep(PROBE_INTERVAL_MS);
  }
}

/** Runs the workload for `durationMs` (users finish their current turn), recording into `recorder`. */
export async function runMixedLoad(options: MixedLoadOptions, recorder = new LoadRecorder()): Promise<LoadRecorder> {
  const deadline = Date.now() + options.durationMs;
  await Promise.all([probe(options.url, deadline, recorder), ...options.accounts.map((account, k) => virtualUser(options, account, k, deadline, recorder))]);
  return recorder;
}
