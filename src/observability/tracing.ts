/**
 * OpenTelemetry tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go to that OTLP/HTTP
 * endpoint (`/v1/traces`), W3C `traceparent` headers are honoured, and the trace context travels
 * inside each generation job, so that one trace covers api → queue → worker → stream.
 *
 * Off, nothing is registered: the OpenTelemetry API hands out its no-op tracer, and the parts
 * that would cost something (the request wrapper, the GraphQL plugin, AWS SDK middleware) are
 * not installed at all (`tracingEnabled()`).
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export const tracer = trace.getTracer('gptql');

let enabled = false;

/** Whether this process exports spans (startTracing ran with an endpoint). */
export const tracingEnabled = () => enabled;

export interface Tracing {
  /** Sends the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/** Registers the tracer provider for this process, named `serviceName`; no-op without an endpoint. */
export function startTracing(endpoint: string | undefined, serviceName: string): Tracing {
  if (!endpoint) return { shutdown: async () => {} };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/$/, '')}/v1/traces` }))],
  });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  enabled = true;
  return {
    async shutdown() {
      await provider.shutdown();
      enabled = false;
    },
  };
}

/** Runs `work` in a new span (a child of the active one), ending it when `work` settles; errors mark it failed. */
export async function inSpan<T>(name: string, options: { kind?: SpanKind; attributes?: Attributes; parent?: Context }, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

export function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : new Error(String(error)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/** The active trace context as W3C headers (`traceparent`, `tracestate`), for a job to carry. */
export function traceCarrier(): Record<string, string> | undefined {
  if (!enabled) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ? carrier : undefined;
}

/** The context a carrier (job fields, HTTP headers) names; the active one when it names none. */
export function contextFrom(carrier: Record<string, string | undefined> | undefined): Context {
  return carrier ? propagation.extract(context.active(), carrier) : context.active();
}

export { SpanKind };
