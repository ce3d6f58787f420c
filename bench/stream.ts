/**
 * `npm run bench:stream`: time to first token and inter-token latency as graphql-ws clients see
 * them (sendMessage over HTTP, then the `generation` subscription), at 1, 8 and 32 concurrent
 * streams, beside the engine's own figures for the same generations: the ratio is what the
 * transport (queue, stream store, GraphQL, WebSocket) adds. One run, not a test.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestApp } from '../test/support/harness.ts';

const SUBSCRIPTION = `subscription ($id: ID!) { generation(id: $id) {
  __typename
  ... on GenerationToken { index }
  ... on GenerationCompleted { timings { timeToFirstTokenSeconds tokensPerSecond } }
} }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { id } }`;

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

interface StreamResult {
  clientTtft: number;
  clientGaps: number[];
  engineTtft: number;
  engineGap: number;
}

async function oneStream(url: string, token: string, i: number): Promise<StreamResult> {
  const client = createClient({ url: `${url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { accessToken: token }, lazy: false });
  // Connected before timing starts: connection set-up is not per-token cost.
  await new Promise<void>((resolve) => client.on('connected', () => resolve()));
  const start = performance.now();
  const sent = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: SEND, variables: { input: { content: `Tell me a story, number ${i}.`, params: { maxTokens: 64, seed: i } } } }),
  });
  const id = ((await sent.json()) as { data: { sendMessage: { id: string } } }).data.sendMessage.id;
  const arrivals: number[] = [];
  let engine = { timeToFirstTokenSeconds: 0, tokensPerSecond: 0 };
  await new Promise<void>((resolve, reject) => {
    client.subscribe<{ generation: { __typename: string; timings?: typeof engine } }>(
      { query: SUBSCRIPTION, variables: { id } },
      {
        next: ({ data }) => {
          if (data?.generation.__typename === 'GenerationToken') arrivals.push(performance.now());
          if (data?.generation.timings) engine = data.generation.timings;
        },
        error: reject,
        complete: resolve,
      },
    );
  });
  await client.dispose();
  return {
    clientTtft: (arrivals[0]! - start) / 1000,
    clientGaps: arrivals.slice(1).map((t, k) => (t - arrivals[k]!) / 1000),
    engineTtft: engine.timeToFirstTokenSeconds,
    engineGap: engine.tokensPerSecond > 0 ? 1 / engine.tokensPerSecond : NaN,
  };
}

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-bench-stream-'));
const app = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '100000', WS_MAX_CONNECTIONS_PER_USER: '64', AUTH_RATE_LIMIT_PER_IP: '100000', MAX_BATCH_SIZE: '16' }, dataDir);
try {
  const users = await Promise.all(Array.from({ length: 4 }, () => app.newUser()));
  await oneStream(app.url, users[0]!.accessToken, 0); // warm-up
  const ms = (s: number) => (s * 1000).toFixed(1);
  console.log(`\nmachine: ${os.cpus()[0]?.model} × ${os.availableParallelism()}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}, model: default\n`);
  console.log('| streams | TTFT p50 client / engine (ms) | TTFT p99 client / engine (ms) | TTFT p50 ratio | ITL p50 client / engine (ms) | ITL p99 client / engine (ms) | ITL p50 ratio |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const streams of [1, 8, 32]) {
    const results = await Promise.all(Array.from({ length: streams }, (_, i) => oneStream(app.url, users[i % users.length]!.accessToken, i + 1)));
    const clientTtft = results.map((r) => r.clientTtft);
    const engineTtft = results.map((r) => r.engineTtft);
    const clientGaps = results.flatMap((r) => r.clientGaps);
    const engineGaps = results.map((r) => r.engineGap).filter(Number.isFinite);
    console.log(
      `| ${streams} | ${ms(percentile(clientTtft, 50))} / ${ms(percentile(engineTtft, 50))} | ${ms(percentile(clientTtft, 99))} / ${ms(percentile(engineTtft, 99))} | ${(percentile(clientTtft, 50) / percentile(engineTtft, 50)).toFixed(2)}× | ${ms(percentile(clientGaps, 50))} / ${ms(percentile(engineGaps, 50))} | ${ms(percentile(clientGaps, 99))} / ${ms(percentile(engineGaps, 99))} | ${(percentile(clientGaps, 50) / percentile(engineGaps, 50)).toFixed(2)}× |`,
    );
  }
  console.log('\nEngine ITL is its mean decode interval per stream (1 / tokens per second); client ITL is the gap between token events received.');
} finally {
  await app.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
}
