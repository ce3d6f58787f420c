/**
 * Everything a request needs, built once per process: storage, identity, pub/sub.
 */
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { IdentityProvider } from './auth/identity.ts';
import type { Dynamo } from './store/dynamo.ts';
import type { ConversationRepository } from './store/conversations.ts';
import type { MessageRepository } from './store/messages.ts';
import type { UserRepository } from './store/users.ts';
import type { Events } from './events.ts';
import type { AttemptLimiter } from './auth/attempt-limiter.ts';
import type { AuditLog } from './observability/audit.ts';

export interface Services {
  /** The process's Prometheus registry (served at /metrics). */
  registry: import('prom-client').Registry;
  generation: import('./generation/service.ts').GenerationService;
  generationStack: import('./generation/stack.ts').GenerationStack;
  streams: import('./streams/stream-store.ts').StreamStore;
  models: import('./generation/model-directory.ts').ModelDirectory;
  config: Config;
  logger: Logger;
  dynamo: Dynamo;
  users: UserRepository;
  conversations: ConversationRepository;
  messages: MessageRepository;
  files: import('./files/service.ts').FileService;
  identity: IdentityProvider;
  events: Events;
  closeEvents(): Promise<void>;
  authLimiter: AttemptLimiter;
  audit: AuditLog;
  /** Public JWKS of the local provider, served at /.well-known/jwks.json. */
  jwks?: { keys: object[] };
}
