/**
 * Generation requests per user per minute, by role: `users` get RATE_LIMIT_PER_MINUTE, `premium`
 * RATE_LIMIT_PREMIUM_PER_MINUTE, `admin` no limit. rate-limiter-flexible counts with one atomic
 * Redis operation per request, so API processes sharing a Redis share the count exactly.
 *
 * (@envelop/rate-limiter was the first choice; its Redis store reads and then writes the
 * timestamps, which lets concurrent processes both pass the last slot, and its limits are fixed
 * per field, with no way to give roles different ones.)
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Role } from '../auth/identity.ts';
import { AppError, ErrorCode } from '../errors.ts';

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Epoch seconds when the window resets. */
  reset: number;
  /** This request was refused. */
  limited: boolean;
}

export interface GenerationRateLimiter {
  /** Counts one request; RATE_LIMITED (with retryAfter and the state) when over the limit. Undefined for admins. */
  consume(userId: string, roles: readonly Role[]): Promise<RateLimitState | undefined>;
}

export interface RateLimitOptions {
  perMinute: number;
  premiumPerMinute: number;
  /** Count in this Redis (a client the caller owns), so that every process shares the count. */
  redis?: Redis;
  prefix?: string;
}

export function createGenerationRateLimiter(options: RateLimitOptions): GenerationRateLimiter {
  const { redis } = options;
  const prefix = options.prefix ?? 'gptql:';
  const make = (role: string, points: number): RateLimiterAbstract => {
    const settings = { keyPrefix: `${prefix}rl:generate:${role}`, points, duration: 60 };
    return redis ? new RateLimiterRedis({ ...settings, storeClient: redis }) : new RateLimiterMemory(settings);
  };
  const limiters = { users: make('users', options.perMinute), premium: make('premium', options.premiumPerMinute) };

  const state = (limit: number, res: RateLimiterRes, limited: boolean): RateLimitState => ({
    limit,
    remaining: Math.max(0, res.remainingPoints),
    reset: Math.ceil((Date.now() + res.msBeforeNext) / 1000),
    limited,
  });

  return {
    async consume(userId, roles) {
      if (roles.includes('admin')) return undefined;
      const tier = roles.includes('premium') ? 'premium' : 'users';
      const limiter = limiters[tier];
      try {
        return state(limiter.points, await limiter.consume(userId), false);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const limited = state(limiter.points, rejection, true);
        throw new AppError(ErrorCode.RATE_LIMITED, `Rate limit of ${limiter.points} generations per minute reached`, {
          retryAfter: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
          rateLimit: limited,
        });
      }
    },
  };
}
