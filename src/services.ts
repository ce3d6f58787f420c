/**
 * What the API's resolvers and routes reach through their context: built once per API process
 * by `createApi` from the shared infrastructure and the API's own parts (identity, limits).
 */
import type { Registry } from 'prom-client';
import type { AttemptLimiter } from './auth/attempt-limiter.ts';
import type { IdentityProvider } from './auth/identity.ts';
import type { Config } from './config.ts';
import type { ConversationService } from './conversations/service.ts';
import type { FileService } from './files/service.ts';
import type { ModelDirectory } from './generation/model-directory.ts';
import type { GenerationService } from './generation/service.ts';
import type { AuditLog } from './observability/audit.ts';
import type { Logger } from './observability/logger.ts';
import type { Dynamo } from './store/dynamo.ts';
import type { MessageRepository } from './store/messages.ts';
import type { UserRepository } from './store/users.ts';
import type { StreamStore } from './streams/stream-store.ts';
import type { UsageService } from './usage/service.ts';
import type { SearchService } from './search/service.ts';
import type { ApiKeyService } from './auth/api-keys.ts';
import type { PersistedOperations } from './server/persisted-operations.ts';

export interface Services {
  config: Config;
  logger: Logger;
  /** The process's Prometheus registry (served at /metrics). */
  registry: Registry;
  dynamo: Dynamo;
  users: UserRepository;
  conversations: ConversationService;
  messages: MessageRepository;
  files: FileService;
  generation: GenerationService;
  streams: StreamStore;
  models: ModelDirectory;
  usage: UsageService;
  search: SearchService;
  apiKeys: ApiKeyService;
  /** Which documents GraphQL runs (PERSISTED_OPERATIONS), over HTTP and WebSocket alike. */
  persistedOperations: PersistedOperations;
  identity: IdentityProvider;
  authLimiter: AttemptLimiter;
  audit: AuditLog;
  /** Public JWKS of the local provider, served at /.well-known/jwks.json. */
  jwks?: { keys: object[] };
}
