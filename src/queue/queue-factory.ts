/**
 * Picks the job queue adapter from configuration: SQS when a queue URL is set, else Redis Streams
 * when Redis is configured, else the in-process queue (embedded mode).
 */
import type { Redis } from 'ioredis';
import type { JobQueue, QueueOptions } from './queue.ts';
import { MemoryJobQueue } from './queue-memory.ts';
import { RedisJobQueue } from './queue-redis.ts';
import type { RoutingOptions } from './redis-routing.ts';
import type { QueueLogger } from './queue-runtime.ts';
import { SqsJobQueue } from './queue-sqs.ts';

export interface CreateQueueOptions extends QueueOptions {
  sqs?: {
    queueUrl: string;
    region?: string;
    /** For SQS-compatible servers (tests, LocalStack); production leaves it unset. */
    endpoint?: string;
    deadLetterQueueUrl?: string;
    waitTimeSeconds?: number;
  };
  redis?: {
    /** A Redis URL (the queue opens and closes its own connection) or a client the caller owns. */
    connection: Redis | string;
    /** The stream of jobs; the composition root names it (KEDA watches the same key). */
    streamKey: string;
    group?: string;
    /** Conversation routing to the worker holding a conversation's cache; absent: off. */
    routing?: RoutingOptions;
  };
  logger?: QueueLogger;
}

export function createQueue(options: CreateQueueOptions): JobQueue {
  const { visibilityTimeoutMs, maxDeliveries, logger } = options;
  if (options.sqs) {
    const { queueUrl, region, endpoint, deadLetterQueueUrl, waitTimeSeconds } = options.sqs;
    return new SqsJobQueue({
      visibilityTimeoutMs,
      maxDeliveries,
      logger,
      queueUrl,
      deadLetterQueueUrl,
      waitTimeSeconds,
      client: { region, endpoint },
    });
  }
  if (options.redis) {
    return new RedisJobQueue({
      visibilityTimeoutMs,
      maxDeliveries,
      logger,
      redis: options.redis.connection,
      streamKey: options.redis.streamKey,
      group: options.redis.group,
      routing: options.redis.routing,
    });
  }
  return new MemoryJobQueue({ visibilityTimeoutMs, maxDeliveries, logger });
}
