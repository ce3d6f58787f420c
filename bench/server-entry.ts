/**
 * A server process for benchmarks, run by `server.ts` with an IPC channel and `--expose-gc`:
 * either gptql (the real `startProcess`, configured from the environment like `src/main.ts`)
 * or a bare graphql-yoga answering `{ __typename }`, the baseline the API benchmark divides by.
 * Over IPC it reports its memory after a full collection, which a benchmark cannot read from
 * outside (RSS alone includes garbage not yet collected), and the CPU time it has used.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/observability/logger.ts';
import { startProcess } from '../src/server/process.ts';
import type { ServerReply, ServerRequest } from './server.ts';

async function startBareYoga(): Promise<{ url: string; stop(): Promise<void> }> {
  const yoga = createYoga({ schema: createSchema({ typeDefs: 'type Query { ok: Boolean }' }), logging: false });
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function startGptql() {
  const config = loadConfig(process.env);
  return startProcess(config, createLogger(config.logLevel));
}

function collectGarbage() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  // Twice: the first pass can leave objects whose finalizers free more.
  gc();
  gc();
}

function countResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

const send = (reply: ServerReply) => process.send!(reply);
const running = process.env.BENCH_SERVER === 'bare-yoga' ? await startBareYoga() : await startGptql();
process.on('message', (request: ServerRequest) => {
  if (request.type === 'memory') {
    collectGarbage();
    const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
    send({ type: 'memory', heapUsed, rss, external, arrayBuffers, resources: countResources() });
  } else if (request.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    send({ type: 'cpu', microseconds: user + system });
  } else if (request.type === 'stop') {
    void running.stop().then(() => process.exit(0));
  }
});
send({ type: 'ready', url: running.url.replace('localhost', '127.0.0.1') });
