/**
 * The API role: GraphQL over HTTP and WebSocket. From the infrastructure it takes the stores,
 * the queue it enqueues on, the stream store it follows and the model directory it lists; it
 * builds only what the API alone uses: identity, auth attempt limits, per-user generation rate
 * limits and the services resolvers call. It never runs the model.
 */
import { ApiKeyService } from '../auth/api-keys.ts';
import { createAttemptLimiter } from '../auth/attempt-limiter.ts';
import { ApiKeyRepository } from '../store/api-keys.ts';
import { createGenerationRateLimiter } from '../generation/rate-limit.ts';
import { GenerationService } from '../generation/service.ts';
import { buildApp, type App } from '../server/app.ts';
import { SearchService } from '../search/service.ts';
import { UsageService } from '../usage/service.ts';
import type { Services } from '../services.ts';
import { createMemoryApqStore, createRedisApqStore } from '../server/apq-store.ts';
import { loadManifest, PersistedOperations } from '../server/persisted-operations.ts';
import { createIdentity } from './identity.ts';
import type { Infrastructure } from './infrastructure.ts';

export async function createApi(infra: Infrastructure): Promise<App> {
  const { config, logger } = infra;
  const g = config.generation;
  const { identity, jwks } = await createIdentity(config, infra.users, logger);
  const usage = new UsageService({
    usage: infra.usage,
    users: infra.users,
    events: infra.usageEvents,
    quotas: config.usage.quotas,
    onQuotaRefused: (role) => infra.generationMetrics.quotaRefused.inc({ role }),
  });
  const services: Services = {
    config,
    logger,
    registry: infra.registry,
    dynamo: infra.dynamo,
    users: infra.users,
    conversations: infra.conversations,
    messages: infra.messages,
    files: infra.files,
    streams: infra.streams,
    models: infra.models,
    usage,
    search: new SearchService({
      conversations: infra.conversations,
      messages: infra.messages,
      events: infra.conversationEvents,
      maxBytes: config.search.maxIndexBytes,
      logger,
    }),
    apiKeys: new ApiKeyService(new ApiKeyRepository(infra.dynamo), infra.users),
    persistedOperations: new PersistedOperations(
      config.graphql.persistedOperations,
      config.graphql.persistedOperations === 'off' ? new Map() : loadManifest(),
      infra.redis ? createRedisApqStore(infra.redis.commands, config.redisPrefix) : createMemoryApqStore(),
    ),
    identity,
    jwks,
    audit: infra.audit,
    authLimiter: createAttemptLimiter({ limits: config.authLimits, prefix: config.redisPrefix, redis: infra.redis?.failFast }),
    generation: new GenerationService({
      queue: infra.queue,
      streams: infra.streams,
      limiter: createGenerationRateLimiter({
        perMinute: g.rateLimitPerMinute,
        premiumPerMinute: g.premiumRateLimitPerMinute,
        redis: infra.redis?.commands,
        prefix: config.redisPrefix,
      }),
      conversations: infra.conversations,
      messages: infra.messages,
      files: infra.files,
      models: infra.models,
      quota: usage,
      maxMessageChars: g.maxMessageChars,
      onRateLimited: () => infra.generationMetrics.rateLimited.inc(),
    }),
  };
  return buildApp(services, infra.readiness);
}
