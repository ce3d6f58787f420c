/**
 * Remembers verified access tokens until they expire, so that a client's every request does not
 * pay for an RS256 signature check (and the JWT parsing around it) again.
 *
 * This gives the same answers as verifying each time because verification is offline for both
 * providers: a function of the token text and the clock (signature, issuer, client, expiry).
 * Log-out revokes refresh tokens, not access tokens, which stay valid until they expire; the
 * cache still forgets a token that logs out, so that it can never outlive a provider that
 * starts refusing such tokens. Failures are not remembered: a bad token is checked every time.
 */
import { LRUCache } from 'lru-cache';
import type { Identity, IdentityProvider } from './identity.ts';

/**
 * Tokens remembered at most (about 1 KiB each, with the identity); past it, the least recently
 * used are verified again.
 */
export const VERIFIED_TOKENS_MAX = 10_000;

export function cacheVerifiedTokens(provider: IdentityProvider, maxEntries = VERIFIED_TOKENS_MAX): IdentityProvider {
  const verified = new LRUCache<string, Identity>({ max: maxEntries });
  return {
    ...provider,
    async verifyAccessToken(token) {
      const cached = verified.get(token);
      // Past `exp` the provider decides again (it may allow clock skew, or refuse).
      if (cached && cached.expiresAt * 1000 > Date.now()) return cached;
      verified.delete(token);
      // Frozen: one object now serves many requests, which must not change it for each other.
      const identity = await provider.verifyAccessToken(token);
      const shared = Object.freeze({ ...identity, roles: Object.freeze([...identity.roles]) as Identity['roles'] });
      verified.set(token, shared);
      return shared;
    },
    async logOut(accessToken, refreshToken) {
      verified.delete(accessToken);
      return provider.logOut(accessToken, refreshToken);
    },
  };
}
