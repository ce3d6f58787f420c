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
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Config } from '../config.ts';
import { AppError, ErrorCode } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

export interface AttemptLimiter {
  /** Counts an attempt from `ip`; RATE_LIMITED when the IP, or the account if given, is over its limit. */
  attempt(ip: string, email?: string): Promise<void>;
  /** A wrong password for this account. */
  failed(email: string): Promise<void>;
  /** A successful sign-in: the account's failures start over. */
  succeeded(email: string): Promise<void>;
  close(): Promise<void>;
}

const accountKey = (email: string) => crypto.createHash('sha256').update(email.trim().toLowerCase()).digest('hex');

function rateLimited(msBeforeNext: number, message: string): AppError {
  return new AppError(ErrorCode.RATE_LIMITED, message, { retryAfter: Math.max(1, Math.ceil(msBeforeNext / 1000)) });
}

export async function createAttemptLimiter(config: Config, logger: Logger): Promise<AttemptLimiter> {
  const limits = config.authLimits;
  let redis: Redis | undefined;
  if (config.redis) {
    // No offline queue: while Redis is away, calls fail at once and the in-memory insurance
    // limiter answers instead of requests hanging.
    redis = new Redis(config.redis.url, { enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', (error: Error) => logger.warn({ err: error }, 'rate-limit store: Redis error'));
    await redis.connect().catch((error: unknown) => logger.warn({ err: error }, 'rate-limit store: Redis unreachable, counting in memory'));
  }
  const limiter = (keyPrefix: string, points: number, duration: number): RateLimiterAbstract => {
    const options = { keyPrefix, points, duration };
    if (!redis) return new RateLimiterMemory(options);
    return new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) });
  };
  const byIp = limiter(`${config.redisPrefix}auth:ip`, limits.perIp, limits.windowSeconds);
  const failures = limiter(`${config.redisPrefix}auth:failed`, limits.maxFailedAttempts, limits.lockoutSeconds);

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
    async close() {
      redis?.disconnect();
    },
  };
}
