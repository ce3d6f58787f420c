/**
 * Attempt limits on the auth mutations (rate-limiter-flexible): every attempt counts against
 * the client's IP, and failed sign-ins count against the account, which is locked out of
 * signing in for a while after too many. Counters live in Redis when it is configured (so that
 * every API process sees the same counts), in memory otherwise.
 *
 * Accounts are keyed by a hash of the email, whether or not an account exists, so a lock-out
 * answers the same for every email and no address is stored in Redis.
 */
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config.ts';
import { AppError, ErrorCode } from '../errors.ts';

export interface AttemptLimiter {
  /** Counts an attempt from `ip`; RATE_LIMITED when the IP, or the account if given, is over its limit. */
  attempt(ip: string, email?: string): Promise<void>;
  /** A wrong password for this account. */
  failed(email: string): Promise<void>;
  /** A successful sign-in: the account's failures start over. */
  succeeded(email: string): Promise<void>;
}

const accountKey = (email: string) => crypto.createHash('sha256').update(email.trim().toLowerCase()).digest('hex');

function rateLimited(msBeforeNext: number, message: string): AppError {
  return new AppError(ErrorCode.RATE_LIMITED, message, { retryAfter: Math.max(1, Math.ceil(msBeforeNext / 1000)) });
}

/**
 * `redis` must fail at once while Redis is away (no offline queue): the in-memory insurance
 * limiter then answers instead of requests hanging.
 */
export function createAttemptLimiter(options: { limits: Config['authLimits']; prefix: string; redis?: Redis }): AttemptLimiter {
  const { limits, redis } = options;
  const limiter = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    const settings = { keyPrefix, points, duration };
    if (!redis) return new RateLimiterMemory(settings);
    return new RateLimiterRedis({ ...settings, storeClient: redis, insuranceLimiter: new RateLimiterMemory(settings) });
  };
  const byIp = limiter(`${options.prefix}auth:ip`, limits.perIp, limits.windowSeconds);
  const failures = limiter(`${options.prefix}auth:failed`, limits.maxFailedAttempts, limits.lockoutSeconds);

  return {
    async attempt(ip, email) {
      if (email !== undefined) {
        const state = await failures.get(accountKey(email));
        if (state && state.consumedPoints >= limits.maxFailedAttempts) {
          throw rateLimited(state.msBeforeNext, 'Too many failed sign-ins for this account; try again later');
        }
      }
      try {
        await byIp.consume(ip);
      } catch (error) {
        if (error instanceof RateLimiterRes) throw rateLimited(error.msBeforeNext, 'Too many attempts; try again later');
        throw error;
      }
    },
    async failed(email) {
      const key = accountKey(email);
      const state = await failures.consume(key).catch((error: unknown) => {
        if (error instanceof RateLimiterRes) return error;
        throw error;
      });
      // The lock-out runs from the last failure, not from the first one in the window.
      if (state.consumedPoints >= limits.maxFailedAttempts) await failures.block(key, limits.lockoutSeconds);
    },
    async succeeded(email) {
      await failures.delete(accountKey(email));
    },
  };
}
