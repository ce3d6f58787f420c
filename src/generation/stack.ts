/**
 * The generation pipeline's shared parts, chosen by configuration: queue, stream store,
 * response cache, rate limiter, model directory. API and worker processes build the same stack.
 */
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Events } from '../events.ts';
import type { Logger } from '../observability/logger.ts';
import { createGenerationMetrics, type GenerationMetrics } from '../observability/metrics.ts';
import type { ConversationRepository } from '../store/conversations.ts';
import type { MessageRepository } from '../store/messages.ts';
import type { FileService } from '../files/service.ts';
import { createMemoryModelDirectory, createRedisModelDirectory, type ModelDirectory } from './model-directory.ts';
import type { JobQueue } from '../queue/queue.ts';
import { createQueue } from '../queue/queue-factory.ts';
import { createGenerationRateLimiter, type GenerationRateLimiter } from './rate-limit.ts';
import { createMemoryResponseCache, createRedisResponseCache, type ResponseCache } from './response-cache.ts';
import { GenerationService } from './service.ts';
import type { StreamStore } from '../streams/stream-store.ts';
import { createMemoryStreamStore } from '../streams/stream-store-memory.ts';
import { createRedisStreamStore } from '../streams/stream-store-redis.ts';

export interface GenerationStack {
  queue: JobQueue;
  streams: StreamStore;
  cache: ResponseCache;
  limiter: GenerationRateLimiter;
  models: ModelDirectory;
  service: GenerationService;
  metrics: GenerationMetrics;
  close(): Promise<void>;
}

/** A cache that stores nothing, for RESPONSE_CACHE_TTL_SECONDS=0. */
const noCache: ResponseCache = { get: async () => undefined, set: async () => {}, close: async () => {} };

/** The Redis Stream of generation jobs; KEDA's redis-streams trigger (k8s/) watches the same key. */
export function jobStreamKey(prefix: string): string {
  return `${prefix}jobs`;
}

export function createGenerationStack(
  config: Config,
  deps: { conversations: ConversationRepository; messages: MessageRepository; files: FileService; events: Events; logger: Logger; registry: Registry },
): GenerationStack {
  const g = config.generation;
  const prefix = config.redisPrefix;
  // One command connection for the queue, stream store, cache, limiter and model directory;
  // only subscribing and blocking reads need connections of their own.
  const redis = config.redis ? new Redis(config.redis.url, { maxRetriesPerRequest: 2 }) : undefined;
  const queue = createQueue({
    visibilityTimeoutMs: g.visibilityTimeoutMs,
    maxDeliveries: g.maxDeliveries,
    logger: deps.logger,
    ...(config.sqsQueueUrl ? { sqs: { queueUrl: config.sqsQueueUrl, region: config.region } } : {}),
    ...(redis ? { redis, redisStreamKey: jobStreamKey(prefix) } : {}),
  });
  const streams = redis ? createRedisStreamStore({ redis, ttlSeconds: g.ttlSeconds, prefix }) : createMemoryStreamStore(g.ttlSeconds * 1000);
  const cache = g.cacheTtlSeconds === 0 ? noCache : redis ? createRedisResponseCache(redis, g.cacheTtlSeconds, prefix) : createMemoryResponseCache(g.cacheTtlSeconds);
  const limiter = createGenerationRateLimiter({
    perMinute: g.rateLimitPerMinute,
    premiumPerMinute: g.premiumRateLimitPerMinute,
    redis,
    prefix,
  });
  const models = redis ? createRedisModelDirectory(redis, prefix) : createMemoryModelDirectory();
  const metrics = createGenerationMetrics(deps.registry, () => queue.depth());
  const service = new GenerationService({
    queue,
    streams,
    limiter,
    conversations: deps.conversations,
    messages: deps.messages,
    files: deps.files,
    events: deps.events,
    maxMessageChars: g.maxMessageChars,
    onRateLimited: () => metrics.rateLimited.inc(),
  });
  return {
    queue,
    streams,
    cache,
    limiter,
    models,
    service,
    metrics,
    async close() {
      await queue.close();
      await Promise.all([streams.close(), cache.close(), models.close()]);
      redis?.disconnect();
    },
  };
}
