/**
 * HTTP routes beside GraphQL: the probes (probes.ts, shared with worker processes), metrics and
 * the local provider's JWKS.
 */
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../observability/metrics.ts';
import type { Services } from '../services.ts';
import { answerProbe, probeHeaders, type ReadinessCheck } from './probes.ts';

export function routesPlugin(services: Services, metrics: Metrics, readiness: Record<string, ReadinessCheck>): Plugin {
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      const probe = await answerProbe(url.pathname, readiness);
      if (probe) return endResponse(new fetchAPI.Response(probe.body, { status: probe.status, headers: probeHeaders() }));
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
