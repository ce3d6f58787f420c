/**
 * What a worker-only process serves over HTTP: liveness, readiness (the same checks as the
 * API's) and its metrics (the engine's), for Kubernetes probes and Prometheus. No GraphQL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { answerProbe, probeHeaders, type ReadinessCheck } from './probes.ts';

export async function startWorkerHttp(
  registry: Registry,
  readiness: Record<string, ReadinessCheck>,
  host: string,
  port: number,
): Promise<{ server: Server; url: string; stop(): Promise<void> }> {
  const server = createServer((request, response) => {
    void (async () => {
      const probe = await answerProbe(request.url ?? '', readiness);
      if (probe) {
        response.writeHead(probe.status, probeHeaders());
        response.end(probe.body);
      } else if (request.url === '/metrics') {
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(await registry.metrics());
      } else {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end('{"error":"not found"}');
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return { server, url, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
