/**
 * Prometheus metrics: every metric name is defined here and nowhere else. Each process has one
 * registry (made by the composition root), so that several can live in one test process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Operation names come from clients; past this many distinct ones, new names are counted as
 * `other` so that a client cannot blow up the number of time series.
 */
const MAX_OPERATION_NAMES = 200;

/** A process's registry, with Node's default metrics; each role adds its own metrics to it. */
export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The API role's metrics. */
export function createMetrics(registry: Registry) {
  const labelNames = ['operation_name', 'operation_type'] as const;
  const requests = new Counter({
    name: 'api_requests_total',
    help: 'GraphQL operations executed, by operation name and type.',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'api_request_duration_seconds',
    help: 'GraphQL operation execution time, by operation name and type.',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const errors = new Counter({
    name: 'api_errors_total',
    help: 'Errors returned to clients, by error code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });

  // Read when scraped, from the sources the app hands over once it has built them.
  let live: LiveSources | undefined;
  new Gauge({
    name: 'api_subscriptions_active',
    help: 'Generation event streams this process follows: subscriptions (graphql-ws, SSE) and generate calls awaiting their result.',
    registers: [registry],
    collect() {
      if (live) this.set(live.subscriptions());
    },
  });
  new Gauge({
    name: 'api_websocket_connections',
    help: 'Open graphql-ws connections on this process.',
    registers: [registry],
    collect() {
      if (live) this.set(live.webSockets());
    },
  });

  const knownNames = new Set<string>();
  function operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (knownNames.has(name)) return name;
    if (knownNames.size >= MAX_OPERATION_NAMES) return 'other';
    knownNames.add(name);
    return name;
  }

  return {
    registry,
    /** Starts timing an operation; call the result when it is done. */
    startOperation(name: string | null | undefined, type: string) {
      const labels = { operation_name: operationLabel(name), operation_type: type };
      requests.inc(labels);
      const end = duration.startTimer(labels);
      return () => void end();
    },
    countError(code: string) {
      errors.inc({ code });
    },
    observeLive(sources: LiveSources) {
      live = sources;
    },
  };
}

/** What the process is serving right now, for gauges. */
export interface LiveSources {
  subscriptions(): number;
  webSockets(): number;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Metrics of the inference engine, registered on the process's shared registry. */
export function createInferenceMetrics(registry: Registry) {
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  return {
    timeToFirstToken: new Histogram({
      name: 'generation_time_to_first_token_seconds',
      help: 'From a request entering the queue to its first generated token.',
      buckets: latencyBuckets,
      registers: [registry],
    }),
    interTokenLatency: new Histogram({
      name: 'generation_inter_token_latency_seconds',
      help: 'Duration of one decode step, i.e. the time between two tokens of a stream.',
      buckets: latencyBuckets,
      registers: [registry],
    }),
    queueTime: new Histogram({
      name: 'generation_queue_time_seconds',
      help: 'Time a request waited before its prefill started.',
      buckets: latencyBuckets,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'generation_batch_size',
      help: 'Sequences decoded together per step.',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [registry],
    }),
    running: new Gauge({ name: 'generation_running_requests', help: 'Requests being decoded.', registers: [registry] }),
    waiting: new Gauge({ name: 'generation_waiting_requests', help: 'Requests waiting for a batch slot.', registers: [registry] }),
    tokens: new Counter({ name: 'generation_tokens_total', help: 'Tokens generated.', registers: [registry] }),
  };
}

export type InferenceMetrics = ReturnType<typeof createInferenceMetrics>;

/** Metrics of the generation pipeline around the engine: cache, rate limits, queue. */
export function createGenerationMetrics(registry: Registry, queueDepth?: () => Promise<number>) {
  return {
    cacheHits: new Counter({ name: 'cache_hits_total', help: 'Deterministic generations answered from the response cache.', registers: [registry] }),
    cacheMisses: new Counter({ name: 'cache_misses_total', help: 'Deterministic generations not in the response cache.', registers: [registry] }),
    rateLimited: new Counter({ name: 'rate_limit_exceeded_total', help: 'Generation requests refused by the per-user rate limit.', registers: [registry] }),
    queueDepth: new Gauge({
      name: 'generation_queue_depth',
      help: 'Generation jobs waiting in the queue.',
      registers: [registry],
      async collect() {
        if (queueDepth) this.set(await queueDepth().catch(() => 0));
      },
    }),
  };
}

export type GenerationMetrics = ReturnType<typeof createGenerationMetrics>;
