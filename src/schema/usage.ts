import type { Role } from '../auth/identity.ts';
import { isAdmin } from '../auth/roles.ts';
import type { AuthenticatedContext } from '../context.ts';
import { forbidden, notFound } from '../errors.ts';
import { actor } from '../observability/audit.ts';
import type { UserRecord } from '../store/users.ts';
import type { EffectiveQuota, PeriodUsage } from '../usage/quota.ts';
import type { UsageReportRow } from '../usage/service.ts';
import { builder, pageArgs, toConnection } from './builder.ts';
import { UserRef } from './user.ts';
import { globalId, rawId } from './global-id.ts';

const UsagePeriodRef = builder.objectRef<PeriodUsage>('UsagePeriod').implement({
  description: 'Tokens used in one UTC period, from the usage ledger.',
  fields: (t) => ({
    promptTokens: t.exposeInt('promptTokens', { description: 'Tokens the model read.' }),
    completionTokens: t.exposeInt('completionTokens', { description: 'Tokens it generated.' }),
    totalTokens: t.int({ description: 'Both together.', resolve: (p) => p.promptTokens + p.completionTokens }),
    countedTokens: t.exposeInt('quotaTokens', { description: 'The tokens that count against the limit: those of replies from the response cache do not.' }),
    requests: t.exposeInt('requests', { description: 'Generations recorded.' }),
    limit: t.exposeInt('limit', { nullable: true, description: 'Tokens allowed in the period; null: unlimited.' }),
    remaining: t.exposeInt('remaining', { nullable: true, description: '`limit` less `countedTokens`, at least 0; null: unlimited. At 0, generation requests are refused with QUOTA_EXCEEDED.' }),
    resetsAt: t.field({ type: 'DateTime', description: 'When the next period starts (a UTC midnight).', resolve: (p) => p.resetsAt }),
  }),
});

const UserUsageRef = builder.objectRef<{ day: PeriodUsage; month: PeriodUsage }>('UserUsage').implement({
  description: 'A user’s tokens today and this month, with the limits in force.',
  fields: (t) => ({
    day: t.field({ type: UsagePeriodRef, description: 'Today (UTC).', resolve: (u) => u.day }),
    month: t.field({ type: UsagePeriodRef, description: 'This calendar month (UTC).', resolve: (u) => u.month }),
  }),
});

const UserQuotaRef = builder.objectRef<EffectiveQuota>('UserQuota').implement({
  description: 'The token limits in force for a user: an admin’s override, else the role’s (QUOTA_* settings).',
  fields: (t) => ({
    tokensPerDay: t.exposeInt('tokensPerDay', { nullable: true, description: 'Null: unlimited.' }),
    tokensPerMonth: t.exposeInt('tokensPerMonth', { nullable: true, description: 'Null: unlimited.' }),
    overridden: t.exposeBoolean('overridden', { description: 'Whether `setUserQuota` set either limit for this user.' }),
  }),
});

const UsageGroupingEnum = builder.enumType('UsageGrouping', { description: 'What the rows of `usageReport` are: one per user, per model, or per day.', values: ['USER', 'MODEL', 'DAY'] as const });

const UsageReportRowRef = builder.objectRef<UsageReportRow>('UsageReportRow').implement({
  description: 'The usage of one user, model or day over the report’s range.',
  fields: (t) => ({
    key: t.string({
      description: 'The user’s global id, the model name or the ISO date (yyyy-mm-dd), by the grouping.',
      resolve: (row) => (row.userId ? globalId('User', row.userId) : row.key),
    }),
    user: t.field({
      type: UserRef,
      nullable: true,
      description: 'The user, when grouped by user (null also for a user since deleted).',
      resolve: async (row, _args, context) => (row.userId ? ((await context.loaders.user.load(row.userId)) ?? null) : null),
    }),
    promptTokens: t.exposeInt('promptTokens', { description: 'Tokens models read.' }),
    completionTokens: t.exposeInt('completionTokens', { description: 'Tokens models generated.' }),
    totalTokens: t.int({ description: 'Both together.', resolve: (row) => row.promptTokens + row.completionTokens }),
    requests: t.exposeInt('requests', { description: 'Generations recorded.' }),
  }),
});

const UsageReportConnection = builder.connectionObject({ type: UsageReportRowRef, name: 'UsageReportConnection', description: 'A page of usage report rows.' }, { description: 'A report row in a page, with its cursor.' });

/** The roles whose limits apply: the caller's own from their token, another user's from the profile. */
function rolesOf(user: UserRecord, context: AuthenticatedContext): readonly Role[] {
  return user.userId === context.identity.userId ? context.identity.roles : [user.role];
}

/** A user's usage and quota are theirs and admins' to see. */
function ownOrAdmin(user: UserRecord, context: AuthenticatedContext): void {
  if (user.userId !== context.identity.userId && !isAdmin(context.identity.roles)) throw forbidden();
}

builder.objectFields(UserRef, (t) => ({
  usage: t.withAuth({ authenticated: true }).field({
    type: UserUsageRef,
    description: 'Tokens used today and this month, with the limits in force. The user’s own, or any for admins.',
    resolve: (user, _args, context) => {
      ownOrAdmin(user, context);
      return context.services.usage.summary(user.userId, rolesOf(user, context));
    },
  }),
  quota: t.withAuth({ authenticated: true }).field({
    type: UserQuotaRef,
    description: 'The token limits in force. The user’s own, or any for admins.',
    resolve: (user, _args, context) => {
      ownOrAdmin(user, context);
      return context.services.usage.quota(user.userId, rolesOf(user, context));
    },
  }),
}));

/** Ids are ULIDs (local) or Cognito subs: anything longer is no user's, and is not looked up. */
const MAX_USER_ID_LENGTH = 128;


builder.queryFields((t) => ({
  user: t.withAuth({ admin: true }).field({
    type: UserRef,
    description: 'One user by id. Admins only.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, context) => {
      const id = rawId('User', args.id);
      const user = id.length <= MAX_USER_ID_LENGTH ? await context.loaders.user.load(id) : undefined;
      if (!user) throw notFound('User');
      return user;
    },
  }),
  usageReport: t.withAuth({ admin: true }).field({
    type: UsageReportConnection,
    description:
      'Tokens used from `from` (inclusive) to `to` (exclusive), both UTC midnights, at most 366 days apart, grouped by user, model or day; rows in key order, only those with usage. Admins only.',
    args: {
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', required: true }),
      groupBy: t.arg({ type: UsageGroupingEnum, required: true }),
      ...pageArgs,
    },
    resolve: async (_root, args, context) => {
      const page = await context.services.usage.report({ from: args.from, to: args.to, groupBy: args.groupBy, first: args.first, after: args.after });
      return toConnection({ items: page.rows, hasNextPage: page.hasNextPage }, (row) => row.cursor, args.after);
    },
  }),
}));

builder.mutationFields((t) => ({
  setUserQuota: t.withAuth({ admin: true }).field({
    type: UserRef,
    description:
      'Admins only. Sets a user’s daily and monthly token limits (0: unlimited; null: the role’s); both null removes the override. Applies from the user’s next request, on every API process. Admins themselves are unlimited whatever is set.',
    args: {
      userId: t.arg.id({ required: true }),
      tokensPerDay: t.arg.int({ required: false }),
      tokensPerMonth: t.arg.int({ required: false }),
    },
    resolve: async (_root, args, context) => {
      const userId = rawId('User', args.userId);
      if (userId.length > MAX_USER_ID_LENGTH) throw notFound('User');
      const user = await context.services.usage.setQuota(userId, args.tokensPerDay ?? null, args.tokensPerMonth ?? null);
      context.services.audit('user.quota_changed', { ...actor(context), targetUserId: userId, tokensPerDay: args.tokensPerDay ?? null, tokensPerMonth: args.tokensPerMonth ?? null });
      return user;
    },
  }),
}));

builder.subscriptionFields((t) => ({
  usageChanged: t.withAuth({ authenticated: true }).field({
    type: UserUsageRef,
    description: 'The signed-in user’s usage, each time a generation of theirs is recorded or their quota changes.',
    subscribe: (_root, _args, context) => context.services.usage.changes(context.identity.userId),
    resolve: (_event, _args, context) => context.services.usage.summary(context.identity.userId, context.identity.roles),
  }),
}));
