/**
 * Vitest global setup: looks once per run for the services some suites need, names each missing
 * one on a single line (what, which suites skip, how to install it) and provides the answers to
 * the suites, which `describe.skipIf(!inject(...))` rather than fail with connection errors. A
 * fresh machine may lack them; CI (CI=true) installs them in .ci/run, so there a missing one fails
 * the run: skipping would let CI pass without running those suites.
 */
import { access, constants } from 'node:fs/promises';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { CHROMIUM, REDIS_URL } from './services.ts';

/** Why Redis does not answer, or undefined when it does. */
async function redisProblem(): Promise<string | undefined> {
  // No retries and short timeouts: a missing server should cost the run a second, not a minute.
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1_000, commandTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // The socket's error (ECONNREFUSED, ENOTFOUND, …) says more than connect()'s "Connection is
  // closed"; and unheard, ioredis would log it with a stack trace.
  let socketError: Error | undefined;
  redis.on('error', (error: Error) => (socketError ??= error));
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return (socketError ?? (error as Error)).message;
  } finally {
    redis.disconnect();
  }
}

const chromiumFound = () => access(CHROMIUM, constants.X_OK).then(
  () => true,
  () => false,
);

const inCi = process.env.CI === 'true';

/** The line for one missing service, the same at the start of the run and under its summary. */
function line(what: string, skipped: string, install: string): string {
  return inCi ? `missing: ${what} — ${skipped}, which fails the run under CI=true; install: ${install}` : `skipping: ${what} — ${skipped}; install: ${install}`;
}

export default async function setup(project: TestProject): Promise<void> {
  const [redis, chromium] = await Promise.all([redisProblem(), chromiumFound()]);
  const missing: string[] = [];
  if (redis) {
    missing.push(
      line(
        `Redis not reachable at ${REDIS_URL} (${redis})`,
        'the Redis suites (queue and stream store adapters, multiprocess, starved worker, subscription leaks, shared auth limits, /ready with Redis) are skipped',
        'apt-get install redis-server && redis-server --daemonize yes, or point REDIS_URL at one',
      ),
    );
  }
  if (!chromium) missing.push(line(`Chromium not found (${CHROMIUM})`, 'the web page suite is skipped', 'apt-get install chromium'));

  for (const text of missing) console.log(text);
  // Not thrown: vitest would then print "no test files found" and a stack trace instead of
  // these lines, and run none of the suites that need nothing missing.
  if (inCi && missing.length > 0) process.exitCode = 1;
  project.provide('redisAvailable', !redis);
  project.provide('chromiumAvailable', chromium);
  project.provide('missingServices', missing);
}
