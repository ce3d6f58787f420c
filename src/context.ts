import type DataLoader from 'dataloader';
import type { Identity } from './auth/identity.ts';
import type { Services } from './services.ts';
import type { ConversationRecord } from './store/conversations.ts';
import type { UserRecord } from './store/users.ts';
import type { MessageTree } from './conversations/branches.ts';

/** Per-request loaders: each request batches and caches its own reads, never another's. */
export interface Loaders {
  /** Keyed by conversation id; the owner is always the requesting user, so it is in the key. */
  conversation: DataLoader<string, ConversationRecord | undefined>;
  user: DataLoader<string, UserRecord | undefined>;
  /**
   * A conversation's branches, by conversation id, read once per request for the messages'
   * children and siblings. Only reached through a conversation the user owns.
   */
  messageTree: DataLoader<string, MessageTree>;
}

/** The context of a field that requires a signed-in user (scope-auth's `withAuth` narrows to it). */
export type AuthenticatedContext = Context & { identity: Identity; accessToken: string };

export interface Context {
  identity: Identity | null;
  /** The bearer token the identity came from (logOut revokes its session). */
  accessToken: string | null;
  services: Services;
  loaders: Loaders;
  requestId: string;
  /** The client's address: the socket's, or `X-Forwarded-For`'s from trusted proxies (TRUST_PROXY). */
  clientIp: string;
  /**
   * What an operation wants said in the HTTP response (X-RateLimit-* headers). An object of its
   * own because yoga hands resolvers a copy of the context, while this one is shared.
   */
  response: { rateLimit?: import('./generation/rate-limit.ts').RateLimitState };
}
