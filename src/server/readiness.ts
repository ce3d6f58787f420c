/**
 * Readiness (`GET /ready`): every dependency the process was configured with answers, each
 * within a time limit so that one hung dependency cannot hang the probe. The API and the worker
 * check the same dependencies (the composition root lists them) and answer alike: 200 or 503
 * with `{ status, checks: { name: "ok" | "failing: …" } }`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const READY_TIMEOUT_MS = 2_000;

export type ReadinessCheck = () => Promise<void>;

async function runCheck(check: ReadinessCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `failing: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Answers `GET|HEAD /ready`; false for any other request. */
export function answerReadiness(checks: Record<string, ReadinessCheck>, request: IncomingMessage, response: ServerResponse): boolean {
  if (request.url !== '/ready' || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
  void Promise.all(Object.entries(checks).map(async ([name, check]) => [name, await runCheck(check)] as const)).then((results) => {
    const ready = results.every(([, state]) => state === 'ok');
    response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : JSON.stringify({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) }));
  });
  return true;
}
