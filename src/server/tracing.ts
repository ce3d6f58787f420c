/**
 * The API's spans (src/observability/tracing.ts): one per HTTP request, continuing the trace its
 * `traceparent` header names, and one per GraphQL operation inside it (name, type, errors). The
 * request's span is the active context for everything the request does, so DynamoDB and S3
 * calls and the queue hand-off nest under it. Installed only when tracing is on.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { getOperationAST } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { inSpan, tracer, tracingEnabled } from '../observability/tracing.ts';

/** Span names stay few: ids in paths become placeholders. */
export function routeOf(path: string): string {
  if (path.startsWith('/assets/')) return '/assets/{file}';
  return path
    .replace(/^\/(files|share)\/[^/]+$/, '/$1/{id}')
    .replace(/^\/conversations\/[^/]+\/export$/, '/conversations/{id}/export');
}

type Handler = (request: IncomingMessage, response: ServerResponse) => unknown;

export function tracedRequests(handle: Handler): Handler {
  if (!tracingEnabled()) return handle;
  return (request, response) => {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const path = new URL(request.url ?? '/', 'http://host').pathname;
    const route = routeOf(path);
    const span = tracer.startSpan(
      `${request.method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method ?? '', 'http.route': route, 'url.path': path } },
      parent,
    );
    // 'close': also when the client goes away mid-stream (an SSE subscription it left).
    response.once('close', () => {
      span.setAttribute('http.response.status_code', response.statusCode);
      if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    return context.with(trace.setSpan(parent, span), () => handle(request, response));
  };
}

/** A span per GraphQL execution or subscription, named as the operation is (`mutation SendMessage`). */
export function graphqlTracingPlugin(): Plugin | undefined {
  if (!tracingEnabled()) return undefined;
  const traced = <A extends { document: Parameters<typeof getOperationAST>[0]; operationName?: string | null }, R>(run: (args: A) => R) => (args: A) => {
    const operation = getOperationAST(args.document, args.operationName ?? undefined);
    const type = operation?.operation ?? 'unknown';
    const name = operation?.name?.value ?? 'anonymous';
    return inSpan(`${type} ${name}`, { attributes: { 'graphql.operation.type': type, 'graphql.operation.name': name } }, async (span) => {
      const result = (await run(args)) as { errors?: readonly { message: string }[] };
      if (!isAsyncIterable(result) && result.errors?.length) {
        span.setAttribute('graphql.errors', result.errors.length);
        span.setStatus({ code: SpanStatusCode.ERROR, message: result.errors[0]!.message });
      }
      return result;
    });
  };
  return {
    onExecute: ({ executeFn, setExecuteFn }) => setExecuteFn(traced(executeFn) as typeof executeFn),
    onSubscribe: ({ subscribeFn, setSubscribeFn }) => setSubscribeFn(traced(subscribeFn) as typeof subscribeFn),
  };
}
