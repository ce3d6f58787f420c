/**
 * HTTP routes beside GraphQL: readiness, metrics and the local provider's JWKS. Liveness
 * (`/health`) is graphql-yoga's own health check.
 */
import { useReadinessCheck, type Plugin } from 'graphql-yoga';
import { Redis } from 'ioredis';
import type { Metrics } from '../observability/metrics.ts';
import type { Services } from '../services.ts';

const READY_TIMEOUT_MS = 2_000;

export type ReadinessCheck = () => Promise<void>;

/** Runs every check with a time limit, so that one hung dependency cannot hang /ready. */
async function runChecks(checks: Record<string, ReadinessCheck>) {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
          }),
        ]);
        return [name, 'ok'] as const;
      } catch (error) {
        return [name, `failing: ${(error as Error).message}`] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(results);
}

/** A connection of its own, so that /ready sees Redis as any new client would. */
export function createRedisCheck(url: string) {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  client.on('error', () => {}); // reported through /ready, not as unhandled events
  return {
    async ping() {
      if (client.status === 'wait' || client.status === 'end') await client.connect();
      await client.ping();
    },
    async close() {
      client.disconnect();
    },
  };
}

export function readinessPlugin(readiness: Record<string, ReadinessCheck>): Plugin {
  return useReadinessCheck({
    endpoint: '/ready',
    check: async ({ fetchAPI }) => {
      const checks = await runChecks(readiness);
      const ready = Object.values(checks).every((state) => state === 'ok');
      return new fetchAPI.Response(JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }), {
        status: ready ? 200 : 503,
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      });
    },
  });
}

export function routesPlugin(services: Services, metrics: Metrics): Plugin {
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      const json = (body: unknown) =>
        endResponse(new fetchAPI.Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } }));
      switch (url.pathname) {
        case '/metrics':
          return endResponse(
            new fetchAPI.Response(await metrics.registry.metrics(), {
              headers: { 'content-type': metrics.registry.contentType },
            }),
          );
        case '/.well-known/jwks.json':
          if (services.jwks) return json(services.jwks);
      }
    },
  };
}
