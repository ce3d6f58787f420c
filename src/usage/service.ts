/**
 * The API's side of usage: the quota check before a job is queued, the signed-in user's usage,
 * admins' quota overrides and usage reports. The figures come from the ledger the workers write
 * (src/store/usage.ts); nothing here counts tokens.
 */
import type { Identity, Role } from '../auth/identity.ts';
import { limitTier } from '../auth/roles.ts';
import { AppError, ErrorCode, badInput, notFound } from '../errors.ts';
import { decodeCursor, encodeCursor, pageSize } from '../store/pagination.ts';
import type { ReportRow, UsageRepository, UsageTotals } from '../store/usage.ts';
import type { UserRecord, UserRepository } from '../store/users.ts';
import type { UsageEvents } from './events.ts';
import { daysBetween, daysSpanned, isDayStart } from './periods.ts';
import { checkQuota, effectiveQuota, usageSummary, type EffectiveQuota, type PeriodUsage, type RoleQuotas } from './quota.ts';

/** The longest range a report covers: a year, leap day included. */
export const MAX_REPORT_DAYS = 366;
/** Largest quota an admin can set: what a GraphQL Int holds. */
const MAX_QUOTA = 2 ** 31 - 1;

export type ReportGrouping = 'USER' | 'MODEL' | 'DAY';

export interface ReportRequest {
  from: Date;
  to: Date;
  groupBy: ReportGrouping;
  first?: number | null;
  after?: string | null;
}

export interface UsageReportRow extends UsageTotals {
  key: string;
  /** Set when grouped by user. */
  userId: string | null;
  cursor: string;
}

export interface UsageServiceDeps {
  usage: UsageRepository;
  users: Pick<UserRepository, 'getById'>;
  events: UsageEvents;
  quotas: RoleQuotas;
  onQuotaRefused?: (role: Role) => void;
  now?: () => Date;
}

export class UsageService {
  private readonly now: () => Date;

  constructor(private readonly deps: UsageServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Before a generation is queued: QUOTA_EXCEEDED (with `resetsAt`) once a limit is reached. */
  async check(identity: Identity): Promise<void> {
    if (limitTier(identity.roles) === 'admin') return;
    try {
      checkQuota(await this.summary(identity.userId, identity.roles));
    } catch (error) {
      if (error instanceof AppError && error.code === ErrorCode.QUOTA_EXCEEDED) this.deps.onQuotaRefused?.(limitTier(identity.roles));
      throw error;
    }
  }

  /** Today's and this month's usage of a user with these roles, with the limits in force. */
  async summary(userId: string, roles: readonly Role[]): Promise<{ day: PeriodUsage; month: PeriodUsage }> {
    const now = this.now();
    const usage = await this.deps.usage.month(userId, now);
    return usageSummary(usage, effectiveQuota(roles, usage.override, this.deps.quotas), now);
  }

  async quota(userId: string, roles: readonly Role[]): Promise<EffectiveQuota> {
    return effectiveQuota(roles, await this.deps.usage.override(userId), this.deps.quotas);
  }

  /**
   * An admin's override of a user's limits (0: unlimited); both null returns the user to the
   * role's. Returns the user; NOT_FOUND for an unknown one.
   */
  async setQuota(userId: string, tokensPerDay: number | null, tokensPerMonth: number | null): Promise<UserRecord> {
    for (const [argument, value] of [['tokensPerDay', tokensPerDay], ['tokensPerMonth', tokensPerMonth]] as const) {
      if (value !== null && (!Number.isInteger(value) || value < 0 || value > MAX_QUOTA)) {
        throw badInput(`${argument} must be a whole number from 0 (unlimited) to ${MAX_QUOTA}, or null for the role's`, { argument });
      }
    }
    const user = await this.deps.users.getById(userId);
    if (!user) throw notFound('User');
    await this.deps.usage.setOverride(userId, { tokensPerDay, tokensPerMonth });
    this.deps.events.changed(userId);
    return user;
  }

  changes(userId: string) {
    return this.deps.events.subscribe(userId);
  }

  /** One page of usage from `from` (inclusive) to `to` (exclusive), UTC days, grouped and in key order. */
  async report(request: ReportRequest): Promise<{ rows: UsageReportRow[]; hasNextPage: boolean }> {
    const days = reportDays(request.from, request.to);
    const first = pageSize(request.first);
    const after = request.after ? decodeCursor(request.after, ['key']).key : undefined;
    const page =
      request.groupBy === 'DAY'
        ? await this.dayPage(days, first, after)
        : await this.deps.usage.subjectPage(days, request.groupBy, first, after);
    return {
      hasNextPage: page.hasNextPage,
      rows: page.rows.map(({ key, totals }) => ({ ...totals, key, userId: request.groupBy === 'USER' ? key : null, cursor: encodeCursor({ key }) })),
    };
  }

  /** Days with usage after `after`, read `first + 1` days at a time until a page is full. */
  private async dayPage(days: readonly string[], first: number, after: string | undefined): Promise<{ rows: ReportRow[]; hasNextPage: boolean }> {
    const rows: ReportRow[] = [];
    let next = after ? days.findIndex((day) => day > after) : 0;
    if (next < 0) next = days.length;
    while (rows.length <= first && next < days.length) {
      const batch = days.slice(next, next + first + 1);
      next += batch.length;
      const totals = await Promise.all(batch.map((day) => this.deps.usage.dayTotal(day)));
      batch.forEach((day, i) => {
        if (totals[i]!.requests > 0) rows.push({ key: day, totals: totals[i]! });
      });
    }
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }
}

/** The report's days; BAD_USER_INPUT for a range that is empty, too long or not on UTC midnights. */
function reportDays(from: Date, to: Date): string[] {
  if (!(from < to)) throw badInput('from must be before to', { argument: 'from' });
  // Usage is counted per UTC day, so only whole days can be reported exactly.
  for (const [argument, value] of [['from', from], ['to', to]] as const) {
    if (!isDayStart(value)) throw badInput(`${argument} must be a UTC midnight (usage is counted per UTC day), e.g. ${value.toISOString().slice(0, 10)}T00:00:00Z`, { argument });
  }
  if (daysSpanned(from, to) > MAX_REPORT_DAYS) throw badInput(`A report covers at most ${MAX_REPORT_DAYS} days`, { argument: 'to' });
  return daysBetween(from, to);
}
