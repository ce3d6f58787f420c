/**
 * The API's identity provider: the local one (keys under DATA_DIR, codes to the outbox) or
 * Cognito, with verified access tokens remembered until they expire.
 */
import { grantAdminByEmail } from '../auth/admin-emails.ts';
import type { IdentityProvider } from '../auth/identity.ts';
import { createLocalProvider } from '../auth/local.ts';
import { createOutboxMailer } from '../auth/mailer.ts';
import { loadOrCreateSigningKeys } from '../auth/signing-keys.ts';
import { cacheVerifiedTokens } from '../auth/verified-tokens.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { UserRepository } from '../store/users.ts';

export async function createIdentity(config: Config, users: UserRepository, logger: Logger): Promise<{ identity: IdentityProvider; jwks?: { keys: object[] } }> {
  const auth = config.auth;
  if (auth.provider === 'local') {
    const keys = await loadOrCreateSigningKeys(config.dataDir);
    const identity = createLocalProvider({ config: auth, users, mailer: createOutboxMailer(config.dataDir, logger), keys });
    return { identity: cacheVerifiedTokens(grantAdminByEmail(identity, auth.adminEmails)), jwks: keys.jwks };
  }
  const { createCognitoProvider } = await import('../auth/cognito.ts');
  const identity = createCognitoProvider({
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
  return { identity: cacheVerifiedTokens(grantAdminByEmail(identity, auth.adminEmails)) };
}
