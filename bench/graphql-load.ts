/** One GraphQL request body sent over and over (autocannon), with the server's CPU time per answer. */
import autocannon from 'autocannon';
import type { BenchServer } from './server.ts';

export interface Measured {
  requestsPerSecond: number;
  /** Server CPU time per answered request (ms). */
  cpuPerRequest: number;
  p50: number;
  p99: number;
  total: number;
  /** Non-2xx answers, connection errors and timeouts, and 200s whose body has errors. */
  failures: number;
}

export async function measureGraphQL(
  server: BenchServer,
  body: string,
  token: string | undefined,
  { duration, warmup, connections }: { duration: number; warmup: number; connections: number },
): Promise<Measured> {
  const run = (seconds: number) =>
    autocannon({
      url: `${server.url}/graphql`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body,
      connections,
      duration: seconds,
      // A field error still answers 200: only the body tells.
      verifyBody: (text) => typeof text === 'string' && text.startsWith('{"data":') && !text.includes('"errors":'),
    });
  if (warmup > 0) await run(warmup);
  const cpuBefore = await server.cpuTime();
  const result = await run(duration);
  const cpu = (await server.cpuTime()) - cpuBefore;
  return {
    requestsPerSecond: result.requests.average,
    cpuPerRequest: cpu / 1000 / result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    total: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts + result.mismatches,
  };
}
