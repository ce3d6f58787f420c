import crypto from 'node:crypto';
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Identity } from '../auth/identity.ts';
import type { Context, Loaders } from '../context.ts';
import { AppError, ErrorCode, unauthenticated } from '../errors.ts';
import type { Services } from '../services.ts';
import { looksLikeApiKey } from '../store/api-keys.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';

/**
 * Made on first use: most operations use neither, and a context lives as long as its operation,
 * which for a subscription is as long as the client follows it (thousands at once per process).
 */
function createLoaders(services: Services, identity: Identity | null): Loaders {
  let conversation: Loaders['conversation'] | undefined;
  let user: Loaders['user'] | undefined;
  let messageTree: Loaders['messageTree'] | undefined;
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
    get messageTree() {
      return (messageTree ??= new DataLoader(async (ids) => Promise.all(ids.map((id) => services.conversations.tree(id)))));
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
 * The caller's identity from their token, or null without one. A malformed header or a bad
 * token is UNAUTHENTICATED, never treated as anonymous; this is the one place that says so.
 */
export async function identify(services: Services, readToken: () => string | undefined): Promise<{ identity: Identity; token: string } | null> {
  try {
    const token = readToken();
    if (token === undefined) return null;
    if (looksLikeApiKey(token)) throw unauthenticated('API keys are accepted by /v1 only; log in for a token');
    return { identity: await services.identity.verifyAccessToken(token), token };
  } catch (error) {
    // A store that could not be asked says nothing about the token: the client retries, it does not sign in again.
    if (isDependencyUnavailable(error)) throw error;
    throw unauthenticated(error instanceof AppError ? error.message : 'Invalid token');
  }
}

/** Builds the request context; a refused token is a GraphQL error with HTTP status 401. */
export async function createContext(services: Services, readToken: () => string | undefined, clientIp: string): Promise<Context> {
  let caller: Awaited<ReturnType<typeof identify>>;
  try {
    caller = await identify(services, readToken);
  } catch (error) {
    if (isDependencyUnavailable(error)) throw error;
    throw new GraphQLError((error as AppError).message, { extensions: { code: ErrorCode.UNAUTHENTICATED, http: { status: 401 } } });
  }
  const identity = caller?.identity ?? null;
  return {
    identity,
    accessToken: caller?.token ?? null,
    services,
    loaders: createLoaders(services, identity),
    requestId: crypto.randomUUID(),
    response: {},
    clientIp,
  };
}
