/**
 * `npm run bench:api`: HTTP GraphQL throughput and latency (autocannon) of the client operations
 * `Me`, `Conversations(first: 20)` and `Conversation(id) { messages(first: 50) }` on gptql with
 * embedded storage and with Redis (REDIS_URL), each divided by a bare graphql-yoga answering
 * `{ __typename }` measured in the same run: the ratio is what our stack costs per request.
 * Server CPU time per request is beside throughput: on a busy machine it moves far less. One
 * server runs at a time, so that servers do not compete for the cores. Every response must
 * be a 200 whose body has data and no errors; a run with any other says so and exits 1.
 * Then streamed generations (bench/api-streams.ts): `/v1/chat/completions` and GraphQL
 * `generateStream`, 16 tokens each from the shipped model, beside the engine alone.
 * One run, not a test.
 *
 *   npm run bench:api -- [--duration 10] [--warmup 2] [--connections 10] [--cpu-prof DIR]
 *                        [--part queries|streams|all] [--stream-rounds 5]
 *
 * `--cpu-prof DIR` writes a CPU profile of each gptql server into DIR (open it in Chrome
 * DevTools or speedscope); profiling slows the servers, so its figures are not for comparison.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { print, type DocumentNode } from 'graphql';
import { Redis } from 'ioredis';
import { postGraphQL, signUpUser } from '../test/support/harness.ts';
import { ConversationDocument, ConversationsDocument, CreateConversationDocument, ImportConversationDocument, MeDocument } from '../src/generated/graphql.ts';
import { deleteKeys, REDIS_URL } from './redis-keys.ts';
import { machineLine, ms, ratio, table } from './report.ts';
import { startBenchServer, type BenchServer } from './server.ts';
import { measureGraphQL, type Measured } from './graphql-load.ts';
import { measureStreams, streamTable } from './api-streams.ts';

const CONVERSATIONS = 24;
const MESSAGES = 60;

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '10' },
    'cpu-prof': { type: 'string' },
    part: { type: 'string', default: 'all' },
    'stream-rounds': { type: 'string', default: '5' },
  },
});
if (!['queries', 'streams', 'all'].includes(args.part!)) throw new Error('--part takes queries, streams or all');
const duration = Number(args.duration);
const warmup = Number(args.warmup);
const connections = Number(args.connections);

interface Workload {
  name: string;
  body: string;
  /** Checks the one answer read before the run: the seeded data is really there. */
  check(data: Record<string, unknown>): boolean;
}

const body = (document: DocumentNode, variables: Record<string, unknown> = {}) => JSON.stringify({ query: print(document), variables });

const measure = (server: BenchServer, workload: Pick<Workload, 'body'>, token?: string) => measureGraphQL(server, workload.body, token, { duration, warmup, connections });

/** A user with CONVERSATIONS conversations, the newest of which has MESSAGES messages, through the API. */
async function seed(url: string, dataDir: string): Promise<{ token: string; workloads: Workload[] }> {
  const user = await signUpUser(url, dataDir);
  const token = user.accessToken;
  const gql = async (document: DocumentNode, variables: Record<string, unknown>) => {
    const response = await postGraphQL<Record<string, unknown>>(url, { query: print(document), variables }, token);
    if (!response.data || response.errors) throw new Error(`seeding failed: ${JSON.stringify(response.errors)}`);
    return response.data;
  };
  for (let i = 0; i < CONVERSATIONS - 1; i++) await gql(CreateConversationDocument, { input: { title: `Conversation ${i}` } });
  const start = Date.parse('2026-01-01T00:00:00Z');
  const messages = Array.from({ length: MESSAGES }, (_, i) => ({
    id: `m${i}`,
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: `Message ${i}: ${'lorem ipsum dolor sit amet '.repeat(8)}`,
    parentId: i > 0 ? `m${i - 1}` : null,
    createdAt: new Date(start + i * 1000).toISOString(),
  }));
  const at = new Date(start).toISOString();
  const imported = await gql(ImportConversationDocument, {
    data: { format: 'gptql.conversation', version: 1, exportedAt: at, conversation: { id: 'c', title: 'Long one', createdAt: at, updatedAt: at }, messages },
  });
  const conversationId = (imported.importConversation as { id: string }).id;
  type Edges = { edges: unknown[] };
  return {
    token,
    workloads: [
      { name: 'me', body: body(MeDocument), check: (data) => (data.me as { id: string }).id === user.userId },
      { name: 'conversations(first: 20)', body: body(ConversationsDocument, { first: 20 }), check: (data) => (data.conversations as Edges).edges.length === 20 },
      {
        name: 'conversation(id) { messages(first: 50) }',
        body: body(ConversationDocument, { id: conversationId, first: 50 }),
        check: (data) => (data.conversation as { messages: Edges }).messages.edges.length === 50,
      },
    ],
  };
}

async function withServer<T>(server: Promise<BenchServer>, use: (server: BenchServer) => Promise<T>): Promise<T> {
  const running = await server;
  try {
    return await use(running);
  } finally {
    await running.stop();
  }
}

/** The GraphQL queries against a bare yoga; returns the failed requests. */
async function measureQueries(): Promise<number> {
  const bare = await withServer(startBenchServer('bare-yoga'), (server) => measure(server, { body: JSON.stringify({ query: '{ __typename }' }) }));
  const row = (server: string, storage: string, query: string, m: Measured) => [
    server,
    storage,
    query,
    m.requestsPerSecond.toFixed(0),
    ms(m.p50),
    ms(m.p99),
    ms(m.cpuPerRequest, 2),
    ratio(m.requestsPerSecond, bare.requestsPerSecond),
    ratio(m.p50, bare.p50),
    ratio(m.cpuPerRequest, bare.cpuPerRequest),
    m.failures,
  ];
  const rows = [row('bare yoga', '–', '{ __typename }', bare)];
  let failures = bare.failures;

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-bench-api-'));
  try {
    for (const mode of modes) {
      const dataDir = path.join(tmp, mode.name);
      // The sign-up limit is per IP, and every request of the run comes from 127.0.0.1.
      const env = { ...mode.env, DATA_DIR: dataDir, ROLE: 'api', AUTH_RATE_LIMIT_PER_IP: '100000' };
      await withServer(startBenchServer('gptql', env, profileOptions(`gptql-${mode.name}`)), async (server) => {
        const { token, workloads } = await seed(server.url, dataDir);
        for (const workload of workloads) {
          const first = await postGraphQL<Record<string, unknown>>(server.url, JSON.parse(workload.body), token);
          if (first.status !== 200 || first.errors || !first.data || !workload.check(first.data)) {
            throw new Error(`${mode.name} ${workload.name}: unexpected answer ${JSON.stringify(first)}`);
          }
          const result = await measure(server, workload, token);
          failures += result.failures;
          rows.push(row('gptql', mode.name, workload.name, result));
        }
      });
    }
  } finally {
    const redis = new Redis(REDIS_URL);
    await deleteKeys(redis, redisPrefix);
    redis.disconnect();
    await fs.rm(tmp, { recursive: true, force: true });
  }

  console.log(
    table(['server', 'storage', 'query', 'req/s', 'p50 (ms)', 'p99 (ms)', 'server CPU/req (ms)', 'req/s vs bare', 'p50 vs bare', 'CPU/req vs bare', 'failed'], rows),
  );
  return failures;
}

const profileDir = args['cpu-prof'] ? path.resolve(args['cpu-prof']) : undefined;
// A folder per server: node writes one profile per thread (tsx's module loader runs in its own).
const profileOptions = (name: string) => ({ profileDir: profileDir && path.join(profileDir, name) });
const redisPrefix = `gptql-bench-api-${process.pid}-${Date.now()}:`;
const modes = [
  { name: 'embedded', env: {} as Record<string, string> },
  { name: 'Redis', env: { REDIS_URL, REDIS_KEY_PREFIX: redisPrefix } as Record<string, string> },
];

console.log(`\n${machineLine(`${connections} connections, ${duration} s per figure after ${warmup} s warm-up`)}\n`);
let failures = 0;
if (args.part !== 'streams') failures += await measureQueries();
if (args.part !== 'queries') {
  const { rows, failures: failed } = await measureStreams(Number(args['stream-rounds']), 10);
  console.log(`\nStreamed generations, one at a time, rounds of 10 per path interleaved:\n${streamTable(rows)}`);
  failures += failed;
}
if (profileDir) console.log(`\nCPU profiles of the gptql servers: ${profileDir}`);
if (failures > 0) {
  console.error(`\n*** ${failures} requests failed (non-2xx, connection errors, timeouts or GraphQL errors): these figures do not count. ***`);
  process.exitCode = 1;
}
