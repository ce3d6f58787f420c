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

/**
 * Metrics of one inference engine, labelled with its model: a worker runs an engine per model on
 * the process's one registry, so each metric is registered once and every engine gets its series.
 */
export function createInferenceMetrics(registry: Registry, model = 'default') {
  const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const labelNames = ['model'] as const;
  /** The metric `name` already on the registry (another engine's), else the one `create` makes. */
  const shared = <M>(name: string, create: () => M): M => (registry.getSingleMetric(name) as M | undefined) ?? create();
  const histogram = (name: string, help: string, buckets: number[]) =>
    shared(name, () => new Histogram({ name, help, buckets, labelNames, registers: [registry] })).labels({ model });
  const gauge = (name: string, help: string) => shared(name, () => new Gauge({ name, help, labelNames, registers: [registry] })).labels({ model });
  const counter = (name: string, help: string) => shared(name, () => new Counter({ name, help, labelNames, registers: [registry] })).labels({ model });
  return {
    timeToFirstToken: histogram('generation_time_to_first_token_seconds', 'From a request entering the queue to its first generated token.', latencyBuckets),
    interTokenLatency: histogram('generation_inter_token_latency_seconds', 'Duration of one decode step, i.e. the time between two tokens of a stream.', latencyBuckets),
    queueTime: histogram('generation_queue_time_seconds', 'Time a request waited before its prefill started.', latencyBuckets),
    batchSize: histogram('generation_batch_size', 'Sequences decoded together per step.', [1, 2, 4, 8, 16, 32, 64]),
    running: gauge('generation_running_requests', 'Requests being decoded.'),
    waiting: gauge('generation_waiting_requests', 'Requests waiting for a batch slot.'),
    tokens: counter('generation_tokens_total', 'Tokens generated.'),
    prefixCacheHitTokens: counter('prefix_cache_hit_tokens_total', 'Prompt tokens whose KV cache was restored from the prefix cache.'),
    prefixCacheMissTokens: counter('prefix_cache_miss_tokens_total', 'Prompt tokens computed because the prefix cache did not hold them.'),
    prefixCacheEvictions: counter('prefix_cache_evictions_total', 'Prefix cache blocks evicted to stay within PREFIX_CACHE_BYTES.'),
    prefixCacheBytes: gauge('prefix_cache_bytes', 'Bytes the prefix cache holds.'),
    prefillChunks: counter('prefill_chunks_total', 'Prompt runs between decode steps: chunks of PREFILL_CHUNK_TOKENS, or whole prompts.'),
  };
}

export type InferenceMetrics = ReturnType<typeof createInferenceMetrics>;

/** Where the queue gauges read from: the whole queue, and each model the workers serve. */
export interface QueueDepthSources {
  total(): Promise<number>;
  byModel(): Promise<ReadonlyMap<string, number>>;
}

/** Metrics of the generation pipeline around the engine: cache, rate limits, queue. */
export function createGenerationMetrics(registry: Registry, queueDepth?: QueueDepthSources) {
  return {
    cacheHits: new Counter({ name: 'cache_hits_total', help: 'Deterministic generations answered from the response cache.', registers: [registry] }),
    cacheMisses: new Counter({ name: 'cache_misses_total', help: 'Deterministic generations not in the response cache.', registers: [registry] }),
    generations: new Counter({
      name: 'generations_total',
      help: 'Generations a worker ended, by model and outcome (completed, cancelled, failed).',
      labelNames: ['model', 'outcome'],
      registers: [registry],
    }),
    rateLimited: new Counter({ name: 'rate_limit_exceeded_total', help: 'Generation requests refused by the per-user rate limit.', registers: [registry] }),
    // Labels stay bounded: roles and kinds are fixed lists, models those served; never user ids.
    usageTokens: new Counter({
      name: 'tokens_total',
      help: 'Tokens (prompt and completion) of generations recorded in the usage ledger, by role, model and kind; counted once per generation.',
      labelNames: ['role', 'model', 'kind'] as const,
      registers: [registry],
    }),
    quotaRefused: new Counter({
      name: 'quota_exceeded_total',
      help: 'Generation requests refused because the user\'s token quota was used up, by role.',
      labelNames: ['role'] as const,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'generation_queue_depth',
      help: 'Generation jobs waiting in the queue.',
      registers: [registry],
      async collect() {
        if (queueDepth) this.set(await queueDepth.total().catch(() => 0));
      },
    }),
    modelQueueDepth: new Gauge({
      name: 'generation_model_queue_depth',
      help: 'Generation jobs waiting for each model the workers serve.',
      labelNames: ['model'],
      registers: [registry],
      async collect() {
        if (!queueDepth) return;
        const depths = await queueDepth.byModel().catch(() => new Map<string, number>());
        // Models no worker serves any more drop out rather than keep their last value.
        this.reset();
        for (const [model, depth] of depths) this.set({ model }, depth);
      },
    }),
  };
}

export type GenerationMetrics = ReturnType<typeof createGenerationMetrics>;

/**
 * Whether each dependency answered the last readiness check (`/ready`, which Kubernetes probes
 * every few seconds), and its connection errors, for the "dependency unavailable" alerts.
 */
export function createDependencyMetrics(registry: Registry) {
  const up = new Gauge({ name: 'dependency_up', help: '1 when the dependency answered the last readiness check, 0 when it did not.', labelNames: ['dependency'], registers: [registry] });
  const errors = new Counter({
    name: 'dependency_errors_total',
    help: 'Failures for want of a dependency, by kind (timeout, connection, throttled, server): Redis, each failed connection or reconnection attempt; DynamoDB and S3, each command that failed once the SDK gave up retrying.',
    labelNames: ['dependency', 'kind'],
    registers: [registry],
  });
  return {
    errors,
    /** The checks, each also setting its dependency's `dependency_up`. */
    observe<C extends Record<string, () => Promise<unknown>>>(checks: C): C {
      return Object.fromEntries(
        Object.entries(checks).map(([dependency, check]) => [
          dependency,
          async () => {
            try {
              const result = await check();
              up.set({ dependency }, 1);
              return result;
            } catch (error) {
              up.set({ dependency }, 0);
              throw error;
            }
          },
        ]),
      ) as C;
    },
  };
}
