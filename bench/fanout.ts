/**
 * `npm run bench:fanout`: subscription fan-out in one `api` process (issue 10). N graphql-ws
 * clients each follow their own generation (`generation(id)`), as N chat UIs would, while a
 * separate publisher process appends token events through the real Redis stream store (log,
 * then PUBLISH, as workers do) at a fixed total rate, spread evenly over the N generations.
 * Each event carries its publish time, so a client's receipt time minus it is the delivery
 * latency: Redis, the api process (pub/sub, replay merge, GraphQL execution, WebSocket) and the
 * client's own event loop, which is shared by all N clients.
 *
 * Per size: connect time (all N subscribed in Redis), events/s delivered, latency percentiles,
 * and the api process's memory per idle connection: heap and RSS after a full GC with all N
 * connected and subscribed, minus the same before connecting, over N. After the round every
 * subscription ends (terminal event), the clients close, and what the heap kept is shown too.
 * Goal: p99 under 100 ms and under 50 kB per idle connection (heap and RSS) at 5,000; the
 * default sizes past 5,000 run only if it holds there. The api's CPU time per token and its
 * share of a core tell whether it, rather than the machine, bounds the latency.
 *
 * Users: generations belong to FANOUT_USERS users (argon2 sign-ups are slow), so the bench
 * raises WS_MAX_CONNECTIONS_PER_USER to fit; everything else is the production configuration.
 *
 * Environment: FANOUT_SIZES (1000,5000,10000), FANOUT_RATE (events/s in all, 2000),
 * FANOUT_SECONDS (10), FANOUT_USERS (20), REDIS_URL (redis://127.0.0.1:6379); FANOUT_PROFILE=dir
 * writes a CPU profile of the api process there (`--cpu-prof`).
 * One run prints the figures; it is not a test.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ulid } from 'ulid';
import { signUpUser } from '../test/support/harness.ts';
import { followGeneration, newReceipts, type FanoutClient, type Receipts } from './fanout-client.ts';
import { startPublisher } from './fanout-publisher.ts';
import { clientChannels, deleteKeys, REDIS_URL } from './redis-keys.ts';
import { kib, machineLine, ms, percentile, table } from './report.ts';
import { startBenchServer, type MemorySample } from './server.ts';

const requestedSizes = (process.env.FANOUT_SIZES ?? '1000,5000,10000').split(',').map(Number);
const rate = Number(process.env.FANOUT_RATE ?? 2000);
const seconds = Number(process.env.FANOUT_SECONDS ?? 10);
const userCount = Number(process.env.FANOUT_USERS ?? 20);
const GOAL_SIZE = 5000;
const GOAL_P99_MS = 100;
const GOAL_BYTES_PER_CONNECTION = 50_000;
/** Connections opened at once: enough to keep the server busy, few enough not to overflow its accept backlog. */
const CONNECT_PARALLELISM = 100;
const WARM_UP = { size: 200, rate: 500, seconds: 2 };
const INIT_TIMEOUT_SECONDS = 5;

const prefix = `bench-fanout-${process.pid}-${Date.now()}:`;
const fdLimit = Number(execSync('ulimit -n', { shell: '/bin/bash' }).toString());
// Each client socket takes a descriptor here (the server's are in its own process), plus spares.
const sizes = requestedSizes.filter((size) => size + 1000 <= fdLimit);
if (sizes.length < requestedSizes.length) {
  console.error(`ulimit -n is ${fdLimit}: sizes over ${fdLimit - 1000} skipped (raise it with \`ulimit -n\` to run them)`);
  if (sizes.length === 0) process.exit(1);
}

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-bench-fanout-'));
const redis = new Redis(REDIS_URL);
const server = await startBenchServer('gptql', {
  DATA_DIR: dataDir,
  REDIS_URL,
  REDIS_KEY_PREFIX: prefix,
  ROLE: 'api',
  WS_INIT_TIMEOUT_SECONDS: String(INIT_TIMEOUT_SECONDS),
  WS_MAX_CONNECTIONS_PER_USER: String(Math.ceil(Math.max(...sizes, WARM_UP.size) / userCount)),
  AUTH_RATE_LIMIT_PER_IP: String(userCount * 3 + 10),
}, { profileDir: process.env.FANOUT_PROFILE });
const publisher = await startPublisher({ REDIS_URL, REDIS_KEY_PREFIX: prefix });
const wsUrl = `${server.url.replace('http', 'ws')}/graphql`;

interface Round {
  size: number;
  connectSeconds: number;
  published: number;
  publishedPerSecond: number;
  receipts: Receipts;
  deliveredPerSecond: number;
  /** The api process's CPU time from the first event published to the last delivered, per token. */
  apiCpuMicrosPerToken: number;
  /** Of one core, from the first event published to the last delivered: near 100 %, the api is the bottleneck. */
  apiCpuShare: number;
  idle: MemorySample;
  before: MemorySample;
  after: MemorySample;
}

/** The api process's own count (the api_websocket_connections gauge), as an operator sees it. */
async function openWebSockets(): Promise<number> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^api_websocket_connections (\d+)$/m.exec(metrics)?.[1]);
}

/** Channels the api process listens to in Redis for its clients: one per followed generation. */
const subscribedGenerations = async () => (await clientChannels(redis, prefix)).length;

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function connectAll(generations: { generationId: string; accessToken: string }[], receipts: Receipts): Promise<FanoutClient[]> {
  const clients: FanoutClient[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECT_PARALLELISM }, async () => {
      for (let i = next++; i < generations.length; i = next++) {
        const { generationId, accessToken } = generations[i]!;
        clients.push(await followGeneration(wsUrl, accessToken, generationId, receipts));
      }
    }),
  );
  return clients;
}

async function round(users: { userId: string; accessToken: string }[], size: number, roundRate: number, roundSeconds: number): Promise<Round> {
  const generations = Array.from({ length: size }, (_, i) => ({ generationId: ulid(), ...users[i % users.length]! }));
  await publisher.create(generations);
  const before = await server.memory();

  const receipts = newReceipts();
  const connectStart = performance.now();
  const clients = await connectAll(generations, receipts);
  await until(async () => (await subscribedGenerations()) === size, `${size} subscriptions`);
  const connectSeconds = (performance.now() - connectStart) / 1000;
  // graphql-ws keeps each connection's init timer until it fires: idle means after that.
  await sleep(INIT_TIMEOUT_SECONDS * 1000 + 500);
  const idle = await server.memory();

  const cpuBefore = await server.cpuTime();
  const publishStart = performance.timeOrigin + performance.now();
  const { published, seconds: publishSeconds } = await publisher.publish(roundRate, roundSeconds);
  let seen = -1;
  // Drained when every token arrived, or when none has for a second (a loss shows as a shortfall).
  await until(() => {
    const done = receipts.tokens >= published || receipts.tokens === seen;
    seen = receipts.tokens;
    return done;
  }, 'delivery', 120_000);
  const apiCpuMicros = (await server.cpuTime()) - cpuBefore;

  await publisher.complete();
  await Promise.all(clients.map((client) => client.completed));
  clients.forEach((client) => client.close());
  await Promise.all(clients.map((client) => client.closed));
  await until(async () => (await subscribedGenerations()) === 0, 'unsubscribes');
  await until(async () => (await openWebSockets()) === 0, 'server-side closes');
  const after = await server.memory();
  return {
    size,
    connectSeconds,
    published,
    publishedPerSecond: published / publishSeconds,
    receipts,
    deliveredPerSecond: receipts.tokens / ((receipts.lastAt - publishStart) / 1000),
    idle,
    before,
    after,
    apiCpuMicrosPerToken: apiCpuMicros / receipts.tokens,
    apiCpuShare: apiCpuMicros / 1000 / (receipts.lastAt - publishStart),
  };
}

const perConnection = (round: Round, key: 'heapUsed' | 'rss') => (round.idle[key] - round.before[key]) / round.size;
const timersPerConnection = (round: Round) => ((round.idle.resources.Timeout ?? 0) - (round.before.resources.Timeout ?? 0)) / round.size;
const meetsGoal = (round: Round) =>
  round.receipts.errors.length === 0 &&
  round.receipts.tokens === round.published &&
  percentile(round.receipts.latenciesMs, 99) < GOAL_P99_MS &&
  Math.max(perConnection(round, 'heapUsed'), perConnection(round, 'rss')) < GOAL_BYTES_PER_CONNECTION;

async function cleanUp() {
  await Promise.all([publisher.stop(), server.stop()]);
  await deleteKeys(redis, prefix);
  redis.disconnect();
  await fs.rm(dataDir, { recursive: true, force: true });
}

try {
  console.log(machineLine(`ulimit -n ${fdLimit}, api pid ${server.pid}`));
  console.log(`publisher: ${rate} token events/s in all for ${seconds} s per size, spread over the size's generations; ${userCount} users`);
  const users = [];
  for (let i = 0; i < userCount; i++) users.push(await signUpUser(server.url, dataDir));
  await round(users, WARM_UP.size, WARM_UP.rate, WARM_UP.seconds);

  const rows = [];
  for (const size of sizes) {
    const result = await round(users, size, rate, seconds);
    const { latenciesMs, tokens, errors } = result.receipts;
    const held = meetsGoal(result);
    rows.push([
      size.toLocaleString('en'),
      result.connectSeconds.toFixed(1),
      Math.round(result.publishedPerSecond),
      `${Math.round(result.deliveredPerSecond)}${tokens < result.published ? ` (${result.published - tokens} lost)` : ''}`,
      ms(percentile(latenciesMs, 50)),
      ms(percentile(latenciesMs, 99)),
      ms(Math.max(...latenciesMs)),
      Math.round(result.apiCpuMicrosPerToken),
      `${Math.round(result.apiCpuShare * 100)} %`,
      kib(perConnection(result, 'heapUsed')),
      kib(perConnection(result, 'rss')),
      timersPerConnection(result).toFixed(2),
      kib(result.after.heapUsed - result.before.heapUsed),
      `${held ? 'yes' : 'no'}${errors.length ? ` (${errors.length} errors: ${errors[0]})` : ''}`,
    ]);
    if (!held && !process.env.FANOUT_SIZES && size >= GOAL_SIZE) {
      console.log(`goal missed at ${size}: larger sizes skipped`);
      break;
    }
  }
  console.log(
    table(
      ['subscriptions', 'connect s', 'published/s', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'api CPU µs/token', 'api CPU', 'heap/conn', 'RSS/conn', 'timers/conn', 'heap kept after close', `goal (p99 < ${GOAL_P99_MS} ms, heap and RSS < 50 kB/conn)`],
      rows,
    ),
  );
} finally {
  await cleanUp();
}
