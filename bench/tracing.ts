/**
 * `npm run bench:tracing`: what tracing costs the API. The same gptql API server is measured
 * with tracing off (OTEL_EXPORTER_OTLP_ENDPOINT unset: nothing installed) and on (exporting to an
 * OTLP/HTTP sink in this process that accepts and drops), on `me` and on `conversations(first:
 * 20)`, one server at a time, off and on alternating, in one run. One run, not a test.
 *
 *   npm run bench:tracing -- [--duration 8] [--warmup 2] [--connections 10] [--rounds 2]
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { print } from 'graphql';
import { ConversationsDocument, CreateConversationDocument, MeDocument } from '../src/generated/graphql.ts';
import { postGraphQL, signUpUser } from '../test/support/harness.ts';
import { measureGraphQL, type Measured } from './graphql-load.ts';
import { machineLine, ms, ratio, table } from './report.ts';
import { startBenchServer } from './server.ts';
import { inSpan } from '../src/observability/tracing.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '2' },
  },
});
const load = { duration: Number(args.duration), warmup: Number(args.warmup), connections: Number(args.connections) };

let spansReceived = 0;
const sink = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    spansReceived++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

const queries = [
  { name: 'me', body: JSON.stringify({ query: print(MeDocument) }) },
  { name: 'conversations(first: 20)', body: JSON.stringify({ query: print(ConversationsDocument), variables: { first: 20 } }) },
];
const results = new Map<string, Measured[]>();
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-bench-tracing-'));
console.log(`\n${machineLine(`${load.connections} connections, ${load.duration} s per figure after ${load.warmup} s warm-up, ${args.rounds} rounds`)}\n`);
let failures = 0;
try {
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const tracing of ['off', 'on'] as const) {
      const dataDir = path.join(tmp, `${tracing}-${round}`);
      const env = { DATA_DIR: dataDir, ROLE: 'api', AUTH_RATE_LIMIT_PER_IP: '100000', ...(tracing === 'on' ? { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl } : {}) };
      const server = await startBenchServer('gptql', env);
      try {
        const user = await signUpUser(server.url, dataDir);
        for (let i = 0; i < 20; i++) await postGraphQL(server.url, { query: print(CreateConversationDocument), variables: { input: { title: `C${i}` } } }, user.accessToken);
        for (const query of queries) {
          const measured = await measureGraphQL(server, query.body, user.accessToken, load);
          failures += measured.failures;
          const key = `${query.name}|${tracing}`;
          results.set(key, [...(results.get(key) ?? []), measured]);
        }
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  await fs.rm(tmp, { recursive: true, force: true });
  sink.close();
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const rows = queries.flatMap((query) => {
  const [off, on] = (['off', 'on'] as const).map((mode) => results.get(`${query.name}|${mode}`)!);
  const figures = (m: Measured[]) => ({ rps: mean(m.map((x) => x.requestsPerSecond)), p50: mean(m.map((x) => x.p50)), cpu: mean(m.map((x) => x.cpuPerRequest)) });
  const [a, b] = [figures(off!), figures(on!)];
  return [
    [query.name, 'off', a.rps.toFixed(0), ms(a.p50), ms(a.cpu, 3), '–', '–'],
    [query.name, 'on', b.rps.toFixed(0), ms(b.p50), ms(b.cpu, 3), ratio(b.rps, a.rps), ratio(b.cpu, a.cpu)],
  ];
});
console.log(table(['query', 'tracing', 'req/s', 'p50 (ms)', 'server CPU/req (ms)', 'req/s vs off', 'CPU/req vs off'], rows));
console.log(`\nOTLP export requests received with tracing on: ${spansReceived}`);

// Off, the only tracing code left on a path is inSpan around a generation's enqueue and job (per
// generation, not per request), with OpenTelemetry's no-op tracer: its cost per call, in this process.
const calls = 200_000;
const timeIt = async (wrapped: boolean) => {
  const started = performance.now();
  for (let i = 0; i < calls; i++) await (wrapped ? inSpan('noop', {}, async () => i) : (async () => i)());
  return ((performance.now() - started) * 1000) / calls;
};
await timeIt(true);
const [direct, noop] = [await timeIt(false), await timeIt(true)];
console.log(`inSpan with tracing off: ${(noop - direct).toFixed(2)} µs per call more than the call alone (${direct.toFixed(2)} µs vs ${noop.toFixed(2)} µs)`);
if (failures > 0) {
  console.error(`\n*** ${failures} requests failed: these figures do not count. ***`);
  process.exitCode = 1;
}
