/**
 * Which token limits apply to a user, and what is left of them. Limits are per UTC day and per
 * UTC month; `0` in the configuration (and in an override) means unlimited, and admins are
 * unlimited whatever is set. A request is allowed while the tokens already used are below the
 * limit: nothing is reserved for the tokens it will use, so the last one allowed can end past
 * the limit by at most its `maxTokens`.
 */
import type { Role } from '../auth/identity.ts';
import { limitTier } from '../auth/roles.ts';
import { AppError, ErrorCode } from '../errors.ts';
import type { MonthUsage, QuotaOverride, UsageTotals } from '../store/usage.ts';
import { nextDayStart, nextMonthStart } from './periods.ts';

export interface TokenLimits {
  tokensPerDay: number;
  tokensPerMonth: number;
}

/** Per role, from QUOTA_* (admins have none). */
export type RoleQuotas = Record<'users' | 'premium', TokenLimits>;

/** The limits in force; null is unlimited. */
export interface EffectiveQuota {
  tokensPerDay: number | null;
  tokensPerMonth: number | null;
  /** Whether an admin's override sets either of them. */
  overridden: boolean;
}

export interface PeriodUsage {
  promptTokens: number;
  completionTokens: number;
  /** The tokens that count against the limit: replies from the response cache do not. */
  quotaTokens: number;
  requests: number;
  limit: number | null;
  remaining: number | null;
  resetsAt: Date;
}

const limitOf = (value: number): number | null => (value === 0 ? null : value);

export function effectiveQuota(roles: readonly Role[], override: QuotaOverride | undefined, quotas: RoleQuotas): EffectiveQuota {
  const tier = limitTier(roles);
  if (tier === 'admin') return { tokensPerDay: null, tokensPerMonth: null, overridden: false };
  const base = quotas[tier];
  return {
    tokensPerDay: limitOf(override?.tokensPerDay ?? base.tokensPerDay),
    tokensPerMonth: limitOf(override?.tokensPerMonth ?? base.tokensPerMonth),
    overridden: override !== undefined && (override.tokensPerDay !== null || override.tokensPerMonth !== null),
  };
}

function period(totals: UsageTotals, limit: number | null, resetsAt: Date): PeriodUsage {
  return { ...totals, limit, remaining: limit === null ? null : Math.max(0, limit - totals.quotaTokens), resetsAt };
}

export function usageSummary(usage: MonthUsage, quota: EffectiveQuota, now: Date): { day: PeriodUsage; month: PeriodUsage } {
  return {
    day: period(usage.day, quota.tokensPerDay, nextDayStart(now)),
    month: period(usage.month, quota.tokensPerMonth, nextMonthStart(now)),
  };
}

/** QUOTA_EXCEEDED when a period's limit is reached, with the time the last one reached resets. */
export function checkQuota(summary: { day: PeriodUsage; month: PeriodUsage }): void {
  const reached = [summary.day, summary.month].filter((p) => p.remaining === 0);
  if (reached.length === 0) return;
  const last = reached.at(-1)!;
  const which = last === summary.month ? 'monthly' : 'daily';
  throw new AppError(ErrorCode.QUOTA_EXCEEDED, `Your ${which} token quota of ${last.limit} is used up; it resets at ${last.resetsAt.toISOString()}`, {
    resetsAt: last.resetsAt.toISOString(),
  });
}
