/**
 * Liveness, answered before anything else on the API's and the worker's HTTP servers alike:
 * `{"status":"ok"}` as JSON, which clients and probes read. graphql-yoga's own health check
 * answers with an empty body, so it never sees this path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const BODY = JSON.stringify({ status: 'ok' });

/** Answers `GET|HEAD /health`; false for any other request. */
export function answerHealth(request: IncomingMessage, response: ServerResponse): boolean {
  if (request.url !== '/health' || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
  response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(request.method === 'HEAD' ? undefined : BODY);
  return true;
}
