/**
 * What a worker-only process serves over HTTP: liveness, readiness (the same checks as the
 * API's) and its metrics (the engine's), for Kubernetes probes and Prometheus. No GraphQL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { answerHealth } from './health.ts';
import { answerReadiness, type ReadinessCheck } from './readiness.ts';

export async function startWorkerHttp(
  registry: Registry,
  readiness: Record<string, ReadinessCheck>,
  host: string,
  port: number,
): Promise<{ server: Server; url: string; stop(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (answerHealth(request, response) || answerReadiness(readiness, request, response)) return;
    if (request.url === '/metrics') {
      return void registry.metrics().then((text) => {
        response.writeHead(200, { 'content-type': registry.contentType });
        response.end(text);
      });
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end('{"error":"not found"}');
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return { server, url, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
