/**
 * The composition root's first half: what both roles stand on. It decides once, from the
 * configuration, between embedded parts and their production counterparts (Redis, SQS, S3,
 * DynamoDB), opens every connection, names every shared key, and closes them all again.
 * `createApi` and `createWorker` take what they use from here and open nothing of their own.
 */
import { Redis } from 'ioredis';
import { traceRedis } from '../observability/redis-tracing.ts';
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { createConversationEvents, type ConversationEvents } from '../conversations/events.ts';
import { ConversationService } from '../conversations/service.ts';
import { createFileStorage } from '../files/create-storage.ts';
import { FileService } from '../files/service.ts';
import { createMemoryModelDirectory, createRedisModelDirectory, type ModelDirectory } from '../generation/model-directory.ts';
import { createMemoryResponseCache, createRedisResponseCache, type ResponseCache } from '../generation/response-cache.ts';
import { createAuditLog, type AuditLog } from '../observability/audit.ts';
import type { Logger } from '../observability/logger.ts';
import { createDependencyMetrics, createGenerationMetrics, createRegistry, type GenerationMetrics } from '../observability/metrics.ts';
import { createMemoryPubSub, createRedisPubSub, subscriberOf, type PubSub } from '../pubsub.ts';
import { createQueue } from '../queue/queue-factory.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { ReadinessCheck } from '../server/probes.ts';
import { connectDynamo, type Dynamo } from '../store/dynamo.ts';
import { FileRepository } from '../store/files.ts';
import { LabelRepository } from '../store/labels.ts';
import { ShareRepository } from '../store/shares.ts';
import { MessageRepository } from '../store/messages.ts';
import { ConversationRepository } from '../store/conversations.ts';
import { UsageRepository } from '../store/usage.ts';
import { UserRepository } from '../store/users.ts';
import { createUsageEvents, type UsageEvents } from '../usage/events.ts';
import { createMemoryStreamStore } from '../streams/stream-store-memory.ts';
import { createRedisStreamStore } from '../streams/stream-store-redis.ts';
import type { StreamStore } from '../streams/stream-store.ts';
import { dependencyErrorKind, type DependencyErrorKind } from '../dependency-errors.ts';

/**
 * The jobs key: the Redis Stream of jobs that name no model, and the prefix of each model's
 * stream (`modelStreamKey(jobStreamKey(prefix), model)`), which KEDA's redis-streams triggers
 * (k8s/) watch.
 */
export const jobStreamKey = (prefix: string) => `${prefix}jobs`;

/** The Redis connections of a process, each opened for a reason of its own. */
export interface RedisConnections {
  /** Commands and publishing: queue, stream store, cache, limiter, model directory. */
  commands: Redis;
  /**
   * Fails at once while Redis is away (no offline queue): the auth attempt limiter falls back to
   * counting in memory, and /ready reports Redis as any new client would see it.
   */
  failFast: Redis;
}

export interface Infrastructure {
  config: Config;
  logger: Logger;
  /** The process's one Prometheus registry, served at /metrics by either role. */
  registry: Registry;
  dynamo: Dynamo;
  users: UserRepository;
  messages: MessageRepository;
  conversations: ConversationService;
  /** Changes to conversations, per conversation and per owner, over the one pub/sub. */
  conversationEvents: ConversationEvents;
  files: FileService;
  /** The usage ledger: workers record each generation, the API reads it for quotas and reports. */
  usage: UsageRepository;
  usageEvents: UsageEvents;
  /** One pub/sub for token events (through `streams`) and conversation events. */
  pubsub: PubSub;
  queue: JobQueue;
  streams: StreamStore;
  cache: ResponseCache;
  models: ModelDirectory;
  generationMetrics: GenerationMetrics;
  audit: AuditLog;
  redis?: RedisConnections;
  /** What /ready checks, on API and worker processes alike. */
  readiness: Record<string, ReadinessCheck>;
  close(): Promise<void>;
}

/** A cache that stores nothing, for RESPONSE_CACHE_TTL_SECONDS=0. */
const noCache: ResponseCache = { get: async () => undefined, set: async () => {}, close: async () => {} };

export async function createInfrastructure(config: Config, logger: Logger): Promise<Infrastructure> {
  const g = config.generation;
  const prefix = config.redisPrefix;
  const registry = createRegistry();
  const dependencies = createDependencyMetrics(registry);
  const unavailable = (dependency: string) => (kind: DependencyErrorKind) => dependencies.errors.inc({ dependency, kind });
  const redis = config.redis ? await connectRedis(config.redis.url, logger, config.dependencyTimeoutMs, unavailable('redis')) : undefined;
  // A subscribing connection can do nothing else, so the pub/sub has its own.
  const subscriber = redis ? subscriberOf(redis.commands) : undefined;
  subscriber?.on('error', (error: Error) => logger.warn({ err: error }, 'Redis subscriber connection error'));
  const pubsub = redis ? createRedisPubSub(redis.commands, subscriber!) : createMemoryPubSub();

  const dynamo = await connectDynamo(config, unavailable('dynamodb'));
  const users = new UserRepository(dynamo);
  const messages = new MessageRepository(dynamo);
  const audit = createAuditLog(logger);
  const conversationEvents = createConversationEvents(pubsub, prefix, logger);
  const conversations = new ConversationService({
    conversations: new ConversationRepository(dynamo, messages),
    messages,
    labels: new LabelRepository(dynamo),
    shares: new ShareRepository(dynamo),
    publicUrl: config.publicUrl,
    events: conversationEvents,
    audit,
    maxMessageChars: g.maxMessageChars,
  });
  const files = new FileService(createFileStorage(config, unavailable('s3')), new FileRepository(dynamo), config.files.maxUploadBytes, logger);
  const usage = new UsageRepository(dynamo, config.usage.recordTtlDays);

  const queue = createQueue({
    visibilityTimeoutMs: g.visibilityTimeoutMs,
    maxDeliveries: g.maxDeliveries,
    logger,
    ...(config.sqsQueueUrl ? { sqs: { queueUrl: config.sqsQueueUrl, region: config.region } } : {}),
    ...(redis
      ? { redis: { connection: redis.commands, streamKey: jobStreamKey(prefix), routing: g.routingHintTtlMs > 0 ? { hintTtlMs: g.routingHintTtlMs } : undefined } }
      : {}),
  });
  const streams = redis
    ? createRedisStreamStore({ redis: redis.commands, pubsub, subscriber, ttlSeconds: g.ttlSeconds, prefix })
    : createMemoryStreamStore(g.ttlSeconds * 1000);
  const cache =
    g.cacheTtlSeconds === 0 ? noCache : redis ? createRedisResponseCache(redis.commands, g.cacheTtlSeconds, prefix) : createMemoryResponseCache(g.cacheTtlSeconds);
  const models = redis ? createRedisModelDirectory(redis.commands, prefix) : createMemoryModelDirectory();

  return {
    config,
    logger,
    registry,
    dynamo,
    users,
    messages,
    conversations,
    conversationEvents,
    files,
    usage,
    usageEvents: createUsageEvents(pubsub, prefix, logger),
    pubsub,
    queue,
    streams,
    cache,
    models,
    generationMetrics: createGenerationMetrics(registry, {
      total: () => queue.depth(),
      byModel: async () => new Map(await Promise.all((await models.list()).map(async ({ name }) => [name, await queue.depth(name)] as const))),
    }),
    audit,
    redis,
    readiness: dependencies.observe({
      database: () => dynamo.ping(),
      ...(redis ? { redis: () => pingFailFast(redis.failFast) } : {}),
    }),
    async close() {
      await queue.close();
      await Promise.all([streams.close(), cache.close(), models.close()]);
      await dynamo.close();
      files.storage.close();
      subscriber?.disconnect();
      redis?.commands.disconnect();
      redis?.failFast.disconnect();
    },
  };
}

async function connectRedis(url: string, logger: Logger, timeoutMs: number, onConnectionError: (kind: DependencyErrorKind) => void): Promise<RedisConnections> {
  // Commands fail within DEPENDENCY_TIMEOUT_MS when Redis does not answer (a hung server, a
  // partition that leaves the socket open), and after two reconnection attempts when it is gone:
  // the offline queue holds a command for at most that long, so it stays bounded.
  const commands = traceRedis(new Redis(url, { maxRetriesPerRequest: 2, commandTimeout: timeoutMs }));
  const failFast = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  // ioredis reconnects by itself; its errors are logged (and seen by /ready), not left unhandled.
  commands.on('error', (error: Error) => {
    onConnectionError(dependencyErrorKind(error) ?? 'connection');
    logger.warn({ err: error }, 'Redis connection error');
  });
  failFast.on('error', (error: Error) => logger.warn({ err: error }, 'Redis (fail-fast connection) error'));
  await failFast.connect().catch((error: unknown) => logger.warn({ err: error }, 'Redis unreachable at start-up'));
  return { commands, failFast };
}

async function pingFailFast(client: Redis): Promise<void> {
  if (client.status === 'wait' || client.status === 'end') await client.connect();
  await client.ping();
}
