/**
 * What a worker-only process serves over HTTP: liveness, readiness and its metrics (the
 * engine's), for Kubernetes probes and Prometheus. No GraphQL.
 */
import { createServer, type Server } from 'node:http';
import type { Services } from '../services.ts';
import { answerHealth } from './health.ts';

export async function startWorkerHttp(services: Services, host: string, port: number): Promise<{ server: Server; stop(): Promise<void> }> {
  const server = createServer((request, response) => {
    if (answerHealth(request, response)) return;
    const reply = (status: number, body: string, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    if (request.url === '/ready') {
      return void services.dynamo.ping().then(
        () => reply(200, '{"status":"ready"}'),
        () => reply(503, '{"status":"not ready"}'),
      );
    }
    if (request.url === '/metrics') {
      return void services.registry.metrics().then((text) => reply(200, text, services.registry.contentType));
    }
    reply(404, '{"error":"not found"}');
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return { server, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
