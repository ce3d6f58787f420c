/**
 * HTTP routes beside GraphQL: liveness, readiness, metrics and the local provider's JWKS.
 */
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../observability/metrics.ts';
import type { Services } from '../services.ts';

const READY_TIMEOUT_MS = 2_000;

export type ReadinessCheck = () => Promise<void>;

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

export function routesPlugin(services: Services, metrics: Metrics, readiness: Record<string, ReadinessCheck>): Plugin {
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      const json = (body: unknown, status = 200) =>
        endResponse(
          new fetchAPI.Response(JSON.stringify(body), {
            status,
            headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
          }),
        );
      switch (url.pathname) {
        case '/health':
          return json({ status: 'ok' });
        case '/ready': {
          const checks = await runChecks(readiness);
          const ready = Object.values(checks).every((state) => state === 'ok');
          return json({ status: ready ? 'ready' : 'not ready', checks }, ready ? 200 : 503);
        }
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
