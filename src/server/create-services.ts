import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { createGenerationStack } from '../generation/stack.ts';
import { createAttemptLimiter } from '../auth/attempt-limiter.ts';
import type { IdentityProvider } from '../auth/identity.ts';
import { createLocalProvider } from '../auth/local.ts';
import { createOutboxMailer } from '../auth/mailer.ts';
import { cacheVerifiedTokens } from '../auth/verified-tokens.ts';
import { loadOrCreateSigningKeys } from '../auth/signing-keys.ts';
import { createEvents } from '../events.ts';
import { createAuditLog } from '../observability/audit.ts';
import type { Logger } from '../observability/logger.ts';
import type { Services } from '../services.ts';
import { ConversationRepository } from '../store/conversations.ts';
import { connectDynamo } from '../store/dynamo.ts';
import { MessageRepository } from '../store/messages.ts';
import { UserRepository } from '../store/users.ts';
import { FileRepository } from '../store/files.ts';
import { FileService } from '../files/service.ts';
import { createFileStorage } from '../files/create-storage.ts';

export async function createServices(config: Config, logger: Logger, registry: Registry): Promise<Services> {
  const dynamo = await connectDynamo(config);
  const users = new UserRepository(dynamo);
  const messages = new MessageRepository(dynamo);
  const conversations = new ConversationRepository(dynamo, messages);
  const files = new FileService(createFileStorage(config), new FileRepository(dynamo), config.files.maxUploadBytes);

  let identity: IdentityProvider;
  let jwks: Services['jwks'];
  const auth = config.auth;
  if (auth.provider === 'local') {
    const keys = await loadOrCreateSigningKeys(config.dataDir);
    identity = createLocalProvider({ config: auth, users, mailer: createOutboxMailer(config.dataDir, logger), keys });
    jwks = keys.jwks;
  } else {
    const { createCognitoProvider } = await import('../auth/cognito.ts');
    identity = createCognitoProvider({
      region: config.region,
      userPoolId: auth.userPoolId,
      clientId: auth.clientId,
      endpoint: auth.endpoint,
      // A stand-in endpoint (cognito-local) checks no signatures, but the SDK must sign admin calls.
      credentials: auth.endpoint ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined,
      issuer: auth.issuer,
      jwksUri: auth.issuer ? `${auth.issuer}/.well-known/jwks.json` : undefined,
      logger,
    });
  }

  identity = cacheVerifiedTokens(identity);

  const events = createEvents(config.redis?.url);
  const generation = createGenerationStack(config, { conversations, messages, files, events: events.pubsub, logger, registry });
  return {
    registry,
    generation: generation.service,
    generationStack: generation,
    streams: generation.streams,
    models: generation.models,
    config,
    logger,
    dynamo,
    users,
    conversations,
    messages,
    files,
    identity,
    events: events.pubsub,
    closeEvents: events.close,
    authLimiter: await createAttemptLimiter(config, logger),
    audit: createAuditLog(logger),
    jwks,
  };
}

export async function closeServices(services: Services): Promise<void> {
  await services.generationStack.close();
  await services.identity.close();
  await services.closeEvents();
  await services.authLimiter.close();
  await services.dynamo.close();
  services.files.storage.close();
}
