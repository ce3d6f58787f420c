import type { Config } from '../config.ts';
import type { IdentityProvider } from '../auth/identity.ts';
import { createLocalProvider } from '../auth/local.ts';
import { createOutboxMailer } from '../auth/mailer.ts';
import { loadOrCreateSigningKeys } from '../auth/signing-keys.ts';
import { createEvents } from '../events.ts';
import type { Logger } from '../observability/logger.ts';
import type { Services } from '../services.ts';
import { ConversationRepository } from '../store/conversations.ts';
import { connectDynamo } from '../store/dynamo.ts';
import { MessageRepository } from '../store/messages.ts';
import { UserRepository } from '../store/users.ts';

export async function createServices(config: Config, logger: Logger): Promise<Services> {
  const dynamo = await connectDynamo(config);
  const users = new UserRepository(dynamo);
  const messages = new MessageRepository(dynamo);
  const conversations = new ConversationRepository(dynamo, messages);

  let identity: IdentityProvider;
  let jwks: Services['jwks'];
  const auth = config.auth;
  if (auth.provider === 'local') {
    const keys = await loadOrCreateSigningKeys(config.dataDir);
    identity = createLocalProvider({ config: auth, users, mailer: createOutboxMailer(config.dataDir, logger), keys });
    jwks = keys.jwks;
  } else {
    throw new Error(`identity provider ${auth.provider}: MERGE-PENDING`);
  }

  return { config, logger, dynamo, users, conversations, messages, identity, events: createEvents(), jwks };
}

export async function closeServices(services: Services): Promise<void> {
  await services.identity.close();
  await services.dynamo.close();
}
