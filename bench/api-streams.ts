/**
 * The streamed-generation part of `npm run bench:api`: 16-token replies from the same model
 * through `/v1/chat/completions` (stream) and through GraphQL `generateStream` (over SSE, as
 * /v1 streams), beside the engine alone in this process, in interleaved rounds. What each path
 * adds to a request is its latency minus the engine's, and its server CPU per request.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { DEFAULT_MODEL_DIR } from '../model/default-dir.ts';
import { CreateApiKeyDocument, GenerateStreamDocument } from '../src/generated/graphql.ts';
import { InferenceEngine } from '../src/inference/engine.ts';
import { postGraphQL, signUpUser } from '../test/support/harness.ts';
import { ms, percentile, table } from './report.ts';
import { startBenchServer } from './server.ts';

const TOKENS = 16;
const PROMPT = 'Tell me about the sea';

/** Reads a server-sent event stream to its end; returns its `data:` payloads. */
async function readEvents(response: Response): Promise<string[]> {
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trim());
}

export async function measureStreams(rounds: number, perRound: number): Promise<{ rows: (string | number)[][]; failures: number }> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-bench-streams-'));
  const server = await startBenchServer('gptql', {
    DATA_DIR: dataDir,
    ROLE: 'all',
    AUTH_RATE_LIMIT_PER_IP: '100000',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RESPONSE_CACHE_TTL_SECONDS: '0',
    INFERENCE_THREADS: '1',
  });
  const engine = await InferenceEngine.start({ modelPath: DEFAULT_MODEL_DIR, maxBatchSize: 1, intraOpThreads: 1 });
  let failures = 0;
  try {
    const user = await signUpUser(server.url, dataDir);
    const key = (await postGraphQL<{ createApiKey: { key: string } }>(server.url, { query: print(CreateApiKeyDocument), variables: { name: 'bench' } }, user.accessToken)).data!.createApiKey.key;
    const paths: { name: string; run(): Promise<number> }[] = [
      {
        name: 'engine alone (in process)',
        async run() {
          let tokens = 0;
          for await (const event of engine.generate({ input: { messages: [{ role: 'user', content: PROMPT }] }, params: { maxTokens: TOKENS, minTokens: TOKENS } })) {
            if (event.type === 'done') tokens = event.usage.completionTokens;
          }
          return tokens;
        },
      },
      {
        name: 'POST /v1/chat/completions (stream)',
        async run() {
          const response = await fetch(`${server.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'default', messages: [{ role: 'user', content: PROMPT }], max_tokens: TOKENS, min_tokens: TOKENS, stream: true, stream_options: { include_usage: true } }),
          });
          const events = await readEvents(response);
          if (events.at(-1) !== '[DONE]') throw new Error('no [DONE]');
          return (JSON.parse(events.at(-2)!) as { usage: { completion_tokens: number } }).usage.completion_tokens;
        },
      },
      {
        name: 'GraphQL generateStream (SSE)',
        async run() {
          const response = await fetch(`${server.url}/graphql`, {
            method: 'POST',
            headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'application/json', accept: 'text/event-stream' },
            body: JSON.stringify({ query: print(GenerateStreamDocument), variables: { input: { messages: [{ role: 'USER', content: PROMPT }], params: { maxTokens: TOKENS, minTokens: TOKENS } } } }),
          });
          const events = (await readEvents(response)).filter((data) => data.startsWith('{'));
          const last = JSON.parse(events.at(-1)!) as { data?: { generateStream: { usage?: { completionTokens: number } } } };
          return last.data?.generateStream.usage?.completionTokens ?? 0;
        },
      },
    ];
    const latencies = paths.map(() => [] as number[]);
    const cpu = paths.map(() => 0);
    // Warm-up: the first requests load code paths and fill caches.
    for (const p of paths) for (let i = 0; i < 3; i++) await p.run();
    for (let round = 0; round < rounds; round++) {
      for (const [index, p] of paths.entries()) {
        const cpuBefore = await server.cpuTime();
        for (let i = 0; i < perRound; i++) {
          const started = performance.now();
          const tokens = await p.run();
          latencies[index]!.push(performance.now() - started);
          if (tokens !== TOKENS) failures++;
        }
        cpu[index]! += (await server.cpuTime()) - cpuBefore;
      }
    }
    const count = rounds * perRound;
    const engineP50 = percentile(latencies[0]!, 50);
    const rows = paths.map((p, index) => {
      const p50 = percentile(latencies[index]!, 50);
      // The engine runs in this process: the server's CPU is not its.
      const cpuPerRequest = index === 0 ? NaN : cpu[index]! / 1000 / count;
      return [p.name, count, ms(p50), ms(percentile(latencies[index]!, 90)), index === 0 ? '–' : ms(p50 - engineP50), ms(cpuPerRequest, 2)];
    });
    return { rows, failures };
  } finally {
    await engine.close();
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

export const streamTable = (rows: (string | number)[][]) =>
  table(['path', `requests (${TOKENS} tokens each)`, 'p50 (ms)', 'p90 (ms)', 'added to the engine’s p50 (ms)', 'server CPU/req (ms)'], rows);
