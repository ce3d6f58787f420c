/**
 * A span per AWS SDK command (DynamoDB, S3), through the SDK's own extension point: a middleware
 * at the `initialize` step, so retries and signing are inside it. Added only when tracing is on.
 */
import { SpanKind } from '@opentelemetry/api';
import { inSpan, tracingEnabled } from './tracing.ts';

/** What every SDK client has; its own types are generic over each client's commands. */
export interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

export function traceAwsClient<C>(client: C, service: 'DynamoDB' | 'S3'): C {
  if (!tracingEnabled()) return client;
  (client as unknown as MiddlewareClient).middlewareStack.add(
    (next, handlerContext) => (args) =>
      inSpan(`${service} ${handlerContext.commandName ?? 'command'}`, { kind: SpanKind.CLIENT, attributes: { 'rpc.system': 'aws-api', 'rpc.service': service, 'rpc.method': String(handlerContext.commandName ?? '').replace(/Command$/, '') } }, () => next(args)),
    { step: 'initialize', name: 'gptqlTraceSpan' },
  );
  return client;
}
