import crypto from 'node:crypto';
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Identity } from '../auth/identity.ts';
import type { Context, Loaders } from '../context.ts';
import { AppError, ErrorCode } from '../errors.ts';
import type { Services } from '../services.ts';

/**
 * Made on first use: most operations use neither, and a context lives as long as its operation,
 * which for a subscription is as long as the client follows it (thousands at once per process).
 */
function createLoaders(services: Services, identity: Identity | null): Loaders {
  let conversation: Loaders['conversation'] | undefined;
  let user: Loaders['user'] | undefined;
  return {
    get conversation() {
      return (conversation ??= new DataLoader(async (ids) =>
        identity
          ? services.conversations.getMany(identity.userId, ids)
          : ids.map(() => undefined),
      ));
    },
    get user() {
      return (user ??= new DataLoader(async (ids) => Promise.all(ids.map((id) => services.users.getById(id)))));
    },
  };
}

/** Reads `Bearer <token>`; undefined when there is no token at all. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match) throw new AppError(ErrorCode.UNAUTHENTICATED, 'Authorization must be "Bearer <token>"');
  return match[1];
}

/**
 * Builds the request context. A request without a token is anonymous; one with a malformed
 * header or a bad token is refused outright (UNAUTHENTICATED, HTTP 401) rather than silently
 * treated as anonymous. `readToken` runs inside, so that every refusal is made here, once.
 */
export async function createContext(services: Services, readToken: () => string | undefined, clientIp: string): Promise<Context> {
  let identity: Identity | null = null;
  let token: string | undefined;
  try {
    token = readToken();
    if (token !== undefined) identity = await services.identity.verifyAccessToken(token);
  } catch (error) {
    const message = error instanceof AppError ? error.message : 'Invalid token';
    throw new GraphQLError(message, { extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } } });
  }
  return {
    identity,
    accessToken: identity ? token! : null,
    services,
    loaders: createLoaders(services, identity),
    requestId: crypto.randomUUID(),
    response: {},
    clientIp,
  };
}
