/**
 * Liveness (`GET /health`) and readiness (`GET /ready`), the same on API and worker processes:
 * `{"status":"ok"}`, and 200 or 503 with `{ status, checks: { name: "ok" | "failing: …" } }` for
 * every dependency the composition root lists, each within a time limit so that one hung
 * dependency cannot hang the probe. The API answers them through its yoga pipeline (so they get
 * its security headers), a worker-only process from its small HTTP server.
 */
const READY_TIMEOUT_MS = 2_000;

export type ReadinessCheck = () => Promise<void>;

export interface ProbeAnswer {
  status: number;
  body: string;
}

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

/** The answer to a probe path, or undefined for any other path. */
export async function answerProbe(pathname: string, readiness: Record<string, ReadinessCheck>): Promise<ProbeAnswer | undefined> {
  if (pathname === '/health') return { status: 200, body: JSON.stringify({ status: 'ok' }) };
  if (pathname !== '/ready') return undefined;
  const results = await Promise.all(Object.entries(readiness).map(async ([name, check]) => [name, await runCheck(check)] as const));
  const ready = results.every(([, state]) => state === 'ok');
  return { status: ready ? 200 : 503, body: JSON.stringify({ status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) }) };
}

/** A new object each time: a Response may write its own headers (content-length) into the one it is given. */
export const probeHeaders = () => ({ 'content-type': 'application/json', 'cache-control': 'no-store' });
