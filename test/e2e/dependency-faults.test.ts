/**
 * The services gptql depends on going away and coming back under load, with real processes as
 * deployed: 2 API and 2 worker processes, 20 users sending messages (each to a new conversation,
 * through either API) and following each reply's stream (through the other API). Redis, then
 * DynamoDB (dynalite, a process of its own), is killed and started again; then S3 (s3rver) is
 * stopped. Throughout: every request ends within REQUEST_LIMIT_MS with its answer or UNAVAILABLE,
 * no process exits, memory stays bounded; afterwards every message the API acknowledged has
 * exactly one reply, equal to the text its stream delivered, or a failure its stream reported.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConversationsDocument,
  FilesDocument,
  GenerationEventsDocument,
  SendMessageDocument,
  type GenerationEventFieldsFragment,
} from '../../src/generated/graphql.ts';
import { postGraphQL, rawIdOf, signUpUser } from '../support/harness.ts';
import { download, upload } from '../support/files-helpers.ts';
import { freePort, privateDynalite, privateRedis, type PrivateServer } from '../support/private-services.ts';
import { startGptql, type GptqlProcess } from '../support/processes.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

type Event = GenerationEventFieldsFragment;

const USERS = 20;
/** DEPENDENCY_TIMEOUT_MS of the processes. */
const DEPENDENCY_TIMEOUT_MS = 500;
/** Longest a request may take, outage or not: a DynamoDB request has 3 attempts of DEPENDENCY_TIMEOUT_MS and backoff. */
const REQUEST_LIMIT_MS = 5_000;
const OUTAGE_MS = 4_000;
/** Longest a reply may take to end, from its acknowledgement, outage and redelivery included. */
const FOLLOW_LIMIT_MS = 60_000;
const BUCKET = 'gptql-faults';
/** The WebSocket close code a server closes with when a service it needs is unavailable. */
const TRY_AGAIN_LATER = 1013;

let dataDir: string;
let redis: PrivateServer;
let dynamo: PrivateServer;
let s3: { server: S3rver; port: number; dir: string };
const apis: GptqlProcess[] = [];
const workers: GptqlProcess[] = [];
let users: Awaited<ReturnType<typeof signUpUser>>[] = [];

async function startS3(port: number, dir: string) {
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
  await server.run();
  return server;
}

beforeAll(async () => {
  dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'gptql-faults-'));
  for (const dir of ['redis', 'dynamo', 's3']) await fsp.mkdir(path.join(dataDir, dir));
  redis = await privateRedis({ dataDir: path.join(dataDir, 'redis') });
  dynamo = await privateDynalite(path.join(dataDir, 'dynamo'));
  const s3Port = await freePort();
  s3 = { server: await startS3(s3Port, path.join(dataDir, 's3')), port: s3Port, dir: path.join(dataDir, 's3') };
  await Promise.all([redis.start(), dynamo.start()]);
  const env = {
    DATA_DIR: dataDir,
    REDIS_URL: redis.url,
    DYNAMODB_ENDPOINT: dynamo.url,
    S3_BUCKET_NAME: BUCKET,
    S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
    DEPENDENCY_TIMEOUT_MS: String(DEPENDENCY_TIMEOUT_MS),
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '3',
    RATE_LIMIT_PER_MINUTE: '100000',
    AUTH_RATE_LIMIT_PER_IP: '100000',
    INFERENCE_THREADS: '1',
  };
  // The first creates the tables; the others find them.
  apis.push(await startGptql('api', env));
  const rest = await Promise.all([startGptql('api', env), startGptql('worker', env), startGptql('worker', env)]);
  apis.push(rest[0]);
  workers.push(rest[1], rest[2]);
  users = [];
  for (let i = 0; i < USERS; i++) users.push(await signUpUser(apis[i % 2]!.url, dataDir));
}, 180_000);

afterAll(async () => {
  await Promise.all([...apis, ...workers].map((p) => p.stop('SIGKILL')));
  await Promise.all([redis?.kill(), dynamo?.kill(), s3?.server.close().catch(() => {})]);
  await fsp.rm(dataDir, { recursive: true, force: true });
});

/** What one request ended with: its error code, or 'ok'; how long it took. */
interface Attempt {
  what: string;
  code: string;
  ms: number;
  /** performance.now() when it ended. */
  endedAt: number;
}

/** A message the API acknowledged, and what its stream delivered. */
interface Sent {
  user: number;
  conversationId: string;
  generationId: string;
  deltas: Map<number, string>;
  end?: Event;
  /** performance.now() when its last event arrived. */
  endedAt?: number;
}

/** Runs `request` with a client-side limit: past REQUEST_LIMIT_MS it counts as hung. */
async function timed<T>(what: string, attempts: Attempt[], request: () => Promise<{ data?: T | null; errors?: readonly { extensions?: { code?: unknown } }[] }>) {
  const started = performance.now();
  const limit = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), REQUEST_LIMIT_MS).unref());
  type Answer = Awaited<ReturnType<typeof request>>;
  const threw = (error: unknown): Answer => ({ errors: [{ extensions: { code: `threw ${String(error)}` } }] });
  const result = await Promise.race([request().catch(threw), limit]);
  const code = result === 'hung' ? 'hung' : result.errors?.length ? String(result.errors[0]!.extensions?.code) : 'ok';
  attempts.push({ what, code, ms: performance.now() - started, endedAt: performance.now() });
  return result === 'hung' || code !== 'ok' ? undefined : result.data ?? undefined;
}

/**
 * A phase of load: every user sends, follows the reply to its end (resubscribing after each
 * UNAVAILABLE, from the last event seen, as a client told Retry-After does) and lists their
 * conversations, over and over, until `running()` says stop.
 */
function load(running: () => boolean) {
  const attempts: Attempt[] = [];
  const sent: Sent[] = [];

  async function follow(entry: Sent, api: GptqlProcess, token: string) {
    const deadline = Date.now() + FOLLOW_LIMIT_MS;
    while (!entry.end && Date.now() < deadline) {
      const after = entry.deltas.size;
      const client = wsClient(api.url, token);
      // A stream that stays silent past the limit is ended here, and reported below as never ended.
      const limit = setTimeout(() => void client.dispose(), deadline - Date.now());
      const started = performance.now();
      let code: string;
      try {
        const results = await collectSubscription(client, GenerationEventsDocument, { id: entry.generationId, after }, (result) => {
          const event = result.data?.generation as Event | undefined;
          if (!event) return;
          if (event.__typename === 'GenerationToken') entry.deltas.set(event.index, event.delta);
          else {
            entry.end = event;
            entry.endedAt = performance.now();
          }
        });
        code = results.flatMap((result) => result.errors ?? []).map((error) => String(error.extensions?.code))[0] ?? 'ok';
      } catch (error) {
        if (Array.isArray(error)) {
          // The server refused the operation (graphql-ws `error` message): its errors.
          code = (error as { extensions?: { code?: string }; message: string }[]).map((e) => e.extensions?.code ?? e.message).join(', ');
        } else {
          // The socket closed: 1013 (try again later) is the WebSocket's UNAVAILABLE.
          const { code: closeCode, reason } = error as { code?: number; reason?: string };
          code = closeCode === TRY_AGAIN_LATER ? 'UNAVAILABLE' : `socket ${closeCode} ${reason ?? String(error)}`;
        }
      } finally {
        clearTimeout(limit);
        await client.dispose();
      }
      // A subscription that ends without its last event ended on an error: that answer is a request's.
      if (!entry.end) attempts.push({ what: 'subscribe', code, ms: performance.now() - started, endedAt: performance.now() });
      if (!entry.end) await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  const runs = users.map(async ({ accessToken }, user) => {
    for (let n = 0; running(); n++) {
      const [api, other] = [apis[(user + n) % 2]!, apis[(user + n + 1) % 2]!];
      const gql = <T>(document: Parameters<typeof print>[0], variables: Record<string, unknown>) => () => postGraphQL<T>(api.url, { query: print(document), variables }, accessToken);
      await timed('conversations', attempts, gql(ConversationsDocument, { first: 5 }));
      const data = await timed<{ sendMessage: { id: string; conversation: { id: string } } }>(
        'sendMessage',
        attempts,
        gql(SendMessageDocument, { input: { content: `User ${user}, message ${n}: tell me about the sea`, params: { maxTokens: 12 } } }),
      );
      if (!data) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        continue;
      }
      const entry: Sent = { user, conversationId: data.sendMessage.conversation.id, generationId: data.sendMessage.id, deltas: new Map() };
      sent.push(entry);
      await follow(entry, other, accessToken);
    }
  });
  return { attempts, sent, done: Promise.all(runs) };
}

/** Resident memory of each process, in MiB. */
const rssMiB = (processes: GptqlProcess[]) =>
  processes
    .filter((p) => p.child.exitCode === null && p.child.signalCode === null)
    .map((p) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

/**
 * Load for a while, `outage` in the middle (the dependency down for OUTAGE_MS, then back), load
 * for a while after; then the load stops and every reply is waited for.
 */
async function underLoad(outage: { stop(): Promise<void>; start(): Promise<void> }) {
  const all = [...apis, ...workers];
  let running = true;
  const phase = load(() => running);
  const samples: { during: boolean; rss: number[] }[] = [];
  let during = false;
  const sampler = setInterval(() => samples.push({ during, rss: rssMiB(all) }), 250);
  const probes: Attempt[] = [];
  let down: number, back: number;
  try {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    during = true;
    await outage.stop();
    down = performance.now();
    // Whatever the users happen to be doing: a message sent through each API while it is down.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (const api of apis) {
      const send = { query: print(SendMessageDocument), variables: { input: { content: 'Anyone there?', params: { maxTokens: 4 } } } };
      await timed('probe', probes, () => postGraphQL(api.url, send, users[0]!.accessToken));
    }
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (performance.now() - down)));
    await outage.start();
    back = performance.now();
    during = false;
    await new Promise((resolve) => setTimeout(resolve, 3_000));
  } finally {
    running = false;
    await phase.done.finally(() => clearInterval(sampler));
  }
  const outageMs = back - down;
  for (const process of all) expect(process.child.exitCode, process.output().slice(-2_000)).toBeNull();
  // How long after the dependency was back the first message was accepted again, and the last reply ended.
  const accepted = phase.attempts.filter((a) => a.what === 'sendMessage' && a.code === 'ok' && a.endedAt > back).map((a) => a.endedAt - back);
  const recovery = { firstSendMs: Math.min(...accepted), lastReplyMs: Math.max(...phase.sent.map((s) => (s.endedAt ?? Infinity) - back)) };
  return { ...phase, samples, outageMs, recovery, probes };
}

interface ConversationState {
  activeLeafId: string;
  messageCount: number;
  messages: { edges: { node: { id: string; role: string; content: string } }[] };
}
const CONVERSATION_STATE = 'query ($id: ID!) { conversation(id: $id) { activeLeafId messageCount messages { edges { node { id role content } } } } }';

/** Checks the ledger: each acknowledged message has exactly its streamed reply stored, or a reported failure and none. */
async function checkLedger(sent: Sent[]) {
  for (const entry of sent) {
    expect(entry.end, `generation ${entry.generationId} never ended`).toBeDefined();
    const { conversation } = (await postGraphQL<{ conversation: ConversationState }>(apis[0]!.url, { query: CONVERSATION_STATE, variables: { id: entry.conversationId } }, users[entry.user]!.accessToken)).data!;
    const replies = conversation.messages.edges.map((edge) => edge.node).filter((message) => message.role === 'ASSISTANT');
    const indexes = [...entry.deltas.keys()];
    expect(indexes).toEqual(indexes.map((_, k) => k + 1));
    const streamed = [...entry.deltas.values()].join('');
    const end = entry.end!;
    if (end.__typename === 'GenerationCompleted') {
      expect(end.text).toBe(streamed);
      expect(replies.map((reply) => reply.content)).toEqual([streamed]);
      // The conversation knows of it, even where it was stored by one delivery and the conversation updated by the next.
      expect(conversation).toMatchObject({ activeLeafId: replies[0]!.id, messageCount: 2 });
    } else {
      expect(replies).toEqual([]);
    }
  }
}

function memoryBounded(samples: { during: boolean; rss: number[] }[]) {
  const before = samples.filter((s) => !s.during).map((s) => Math.max(...s.rss));
  const outage = samples.filter((s) => s.during).map((s) => Math.max(...s.rss));
  return { before: Math.max(...before), during: Math.max(...outage) };
}

/**
 * `name` killed and restarted under load: every request (probes sent while it was down
 * included) answered or UNAVAILABLE within the limit, memory bounded, every acknowledged message
 * completed with exactly its streamed reply. Prints the figures.
 */
async function survives(name: string, outage: { stop(): Promise<void>; start(): Promise<void> }) {
  const { attempts, sent, samples, outageMs, recovery, probes } = await underLoad(outage);
  const unexpected = attempts.filter((a) => a.code !== 'ok' && a.code !== 'UNAVAILABLE').map(({ what, code }) => `${what}: ${code}`);
  expect(unexpected).toEqual([]);
  expect(probes.map((probe) => probe.code)).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
  const slowest = Math.max(...[...attempts, ...probes].map((a) => a.ms));
  expect(slowest).toBeLessThan(REQUEST_LIMIT_MS);
  const memory = memoryBounded(samples);
  expect(memory.during).toBeLessThan(memory.before * 1.5 + 64);
  expect(sent.length).toBeGreaterThan(USERS);
  await checkLedger(sent);
  // Nothing acknowledged failed: what the outage interrupted went on once it was back.
  expect(sent.filter((s) => s.end?.__typename !== 'GenerationCompleted')).toEqual([]);
  const unavailable = attempts.filter((a) => a.code === 'UNAVAILABLE').length;
  console.info(
    `${name} outage (${Math.round(outageMs)} ms): ${attempts.length} requests, ${unavailable} UNAVAILABLE, slowest ${Math.round(slowest)} ms; ` +
      `${sent.length} messages, all completed; RSS max ${Math.round(memory.before)} → ${Math.round(memory.during)} MiB; ` +
      `after it was back: first message accepted in ${Math.round(recovery.firstSendMs)} ms, last reply ended in ${Math.round(recovery.lastReplyMs)} ms`,
  );
}

describe('dependencies failing under load (2 api + 2 worker processes, 20 users)', () => {
  it('Redis killed and restarted: requests end quickly, streams resume, every acknowledged message gets exactly one reply', async () => {
    await survives('Redis', { stop: () => redis.kill(), start: () => redis.start() });
  }, 240_000);

  it('DynamoDB killed and restarted: requests end quickly, replies that could not be stored are stored once it is back', async () => {
    await survives('DynamoDB', { stop: () => dynamo.kill(), start: () => dynamo.start() });
    // Some reply could not be stored during the outage and was left for another delivery.
    expect(workers.map((w) => w.output()).join('')).toContain('generation left for redelivery');
  }, 240_000);

  it('S3 stopped: uploads answer UNAVAILABLE and leave nothing, chat goes on; a vanished object is a 404 and a log line', async () => {
    const [api] = apis;
    const { accessToken } = users[0]!;
    const bytes = Buffer.from('Ship’s log, day 1: calm sea.\n'.repeat(50));
    const listed = async () => (await postGraphQL<{ files: { edges: unknown[] } }>(api!.url, { query: print(FilesDocument), variables: { first: 50 } }, accessToken)).data!.files.edges.length;
    const kept = await upload(api!, accessToken, bytes, 'kept.txt', 'text/plain');
    const keptId = kept.data!.uploadFile.id;
    const before = await listed();

    await s3.server.close();
    const started = performance.now();
    const refused = await upload(api!, accessToken, bytes, 'log.txt', 'text/plain');
    expect(performance.now() - started).toBeLessThan(REQUEST_LIMIT_MS);
    expect(refused.status).toBe(503);
    expect(refused.errors?.map((e) => e.extensions?.code)).toEqual(['UNAVAILABLE']);
    expect(await listed()).toBe(before);
    const unreachable = await download(api!, keptId, accessToken);
    expect(unreachable.status).toBe(503);
    expect(unreachable.headers.get('retry-after')).toBe('1');
    // Chat needs no S3.
    const chat = await postGraphQL<{ sendMessage: { id: string } }>(api!.url, { query: print(SendMessageDocument), variables: { input: { content: 'Still there?', params: { maxTokens: 4 } } } }, accessToken);
    expect(chat.errors).toBeUndefined();

    s3.server = await startS3(s3.port, s3.dir);
    const stored = await upload(api!, accessToken, bytes, 'log.txt', 'text/plain');
    expect(stored.errors).toBeUndefined();
    expect(await listed()).toBe(before + 1);
    expect((await download(api!, stored.data!.uploadFile.id, accessToken)).status).toBe(200);

    // The object deleted behind gptql's back: the file is still listed, its bytes are gone.
    const client = new S3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${s3.port}`, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${users[0]!.userId}/${rawIdOf(keptId)}` }));
    client.destroy();
    const vanished = await download(api!, keptId, accessToken);
    expect(vanished.status).toBe(404);
    expect(((await vanished.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('NOT_FOUND');
    await expect.poll(() => api!.output()).toContain('stored file has no object in storage');
  }, 120_000);
});
