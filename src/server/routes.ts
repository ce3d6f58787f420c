/**
 * HTTP routes beside GraphQL: metrics and the local provider's JWKS. Liveness and readiness
 * are answered by health.ts and readiness.ts, on worker processes too.
 */
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../observability/metrics.ts';
import type { Services } from '../services.ts';

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
