/**
 * A span per Redis command made while a traced request or job is running. ioredis has no hook
 * for this; `sendCommand`, through which every command of a connection passes, is wrapped on the
 * connection given (as OpenTelemetry's own ioredis instrumentation does, without its module
 * loader hooks, which do not see modules imported as ESM). Commands outside any span (polling
 * loops, lease renewals) start no trace of their own. Only when tracing is on.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import { tracer, tracingEnabled } from './tracing.ts';

type Command = Parameters<Redis['sendCommand']>[0] & { name: string; promise: Promise<unknown> };

export function traceRedis(redis: Redis): Redis {
  if (!tracingEnabled()) return redis;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    const active = context.active();
    if (!trace.getSpan(active)) return send(command, stream);
    const { name, promise } = command as Command;
    const span = tracer.startSpan(`redis ${name}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis', 'db.operation.name': name } }, active);
    promise.then(
      () => span.end(),
      (error: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        span.end();
      },
    );
    return send(command, stream);
  };
  return redis;
}
