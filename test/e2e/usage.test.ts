/**
 * Usage accounting, quotas and reports through GraphQL, on one embedded process: every kind of
 * generation lands in the ledger with the usage its completion reported, quotas refuse the
 * request after the limit is reached and not before, admins override and report, and bad input
 * gets its code.
 */
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CancelGenerationDocument,
  CreateConversationDocument,
  GenerateDocument,
  GenerateStreamDocument,
  GenerationEventsDocument,
  MyUsageDocument,
  RegenerateDocument,
  SendMessageDocument,
  SetUserQuotaDocument,
  UsageChangedDocument,
  UsageReportDocument,
  UserUsageDocument,
  type GenerationEventFieldsFragment,
} from '../../src/generated/graphql.ts';
import { newId } from '../../src/store/ids.ts';
import { dayOf, nextDayStart } from '../../src/usage/periods.ts';
import { errorCodes, rawIdOf, startTestApp, type TestApp, uniqueEmail } from '../support/harness.ts';
import { collectSubscription, wsClient } from '../support/ws-client.ts';

const ADMIN = uniqueEmail('usage-admin');
let t: TestApp;
let admin: Awaited<ReturnType<TestApp['newUser']>>;

beforeAll(async () => {
  t = await startTestApp({ ROLE: 'all', RATE_LIMIT_PER_MINUTE: '1000', QUOTA_USERS_TOKENS_PER_DAY: '1000', ADMIN_EMAILS: ADMIN });
  admin = await t.newUser(ADMIN);
});
afterAll(() => t.stop());

type Event = GenerationEventFieldsFragment;
type Completed = Extract<Event, { __typename: 'GenerationCompleted' }>;

async function follow(token: string, id: string, onEvent?: (event: Event) => void): Promise<Completed> {
  const client = wsClient(t.url, token);
  try {
    const results = await collectSubscription(client, GenerationEventsDocument, { id, after: 0 }, (r) => r.data && onEvent?.(r.data.generation));
    const last = results.at(-1)!.data!.generation;
    if (last.__typename !== 'GenerationCompleted') throw new Error(JSON.stringify(results.at(-1)));
    return last;
  } finally {
    await client.dispose();
  }
}

/** In a conversation of its own that the user titled: no title job runs, so each request is one generation. */
async function send(token: string, content: string, params: Record<string, unknown> = { maxTokens: 12, seed: 1 }) {
  const conversationId = (await t.gql(CreateConversationDocument, { input: { title: 'Usage' } }, token)).data!.createConversation.id;
  const response = await t.gql(SendMessageDocument, { input: { conversationId, content, params } }, token);
  if (!response.data) throw new Error(JSON.stringify(response.errors));
  return response.data.sendMessage;
}

const total = (usage: { promptTokens: number; completionTokens: number }) => usage.promptTokens + usage.completionTokens;
const myUsage = async (token: string) => (await t.gql(MyUsageDocument, {}, token)).data!.me;

/** Adds `tokens` to a user's day in the ledger, as a finished generation would. */
const seed = (userId: string, tokens: number, at = new Date()) =>
  t.infra.usage.record({
    userId,
    generationId: newId(),
    model: 'default',
    kind: 'message',
    cached: false,
    counted: true,
    promptTokens: tokens,
    completionTokens: 0,
    finishReason: 'stop',
    recordedAt: at.toISOString(),
  });

describe('usage ledger', () => {
  it('records every kind of generation once, with the usage its completion reported', async () => {
    const user = await t.newUser();
    const usages: number[] = [];
    const sent = await send(user.accessToken, 'Tell me about the sea.');
    const first = await follow(user.accessToken, sent.id);
    usages.push(first.usage.totalTokens);

    const again = await t.gql(RegenerateDocument, { messageId: first.message!.id, params: { maxTokens: 10, seed: 2 } }, user.accessToken);
    usages.push((await follow(user.accessToken, again.data!.regenerate.id)).usage.totalTokens);

    const generated = await t.gql(GenerateDocument, { input: { prompt: 'Once upon a time', params: { maxTokens: 8, temperature: 0 } } }, user.accessToken);
    usages.push(total(generated.data!.generate.usage));
    // The same deterministic request again: from the response cache, recorded, not counted.
    const cached = await t.gql(GenerateDocument, { input: { prompt: 'Once upon a time', params: { maxTokens: 8, temperature: 0 } } }, user.accessToken);
    expect(cached.data!.generate.cached).toBe(true);
    usages.push(total(cached.data!.generate.usage));

    const client = wsClient(t.url, user.accessToken);
    const streamed = await collectSubscription(client, GenerateStreamDocument, { input: { prompt: 'The river', params: { maxTokens: 6, seed: 4 } } });
    await client.dispose();
    usages.push((streamed.at(-1)!.data!.generateStream as Completed).usage.totalTokens);

    // Cancelled after its first token: the tokens used so far count.
    const long = await send(user.accessToken, 'Write a very long story.', { maxTokens: 400, seed: 5 });
    let cancelled = false;
    const stopped = await follow(user.accessToken, long.id, (event) => {
      if (event.__typename === 'GenerationToken' && !cancelled) {
        cancelled = true;
        void t.gql(CancelGenerationDocument, { id: long.id }, user.accessToken);
      }
    });
    expect(stopped.finishReason).toBe('CANCELLED');
    usages.push(stopped.usage.totalTokens);

    const { usage } = await myUsage(user.accessToken);
    const sum = usages.reduce((a, b) => a + b, 0);
    expect(usage.day.totalTokens).toBe(sum);
    expect(usage.day.requests).toBe(usages.length);
    expect(usage.day.countedTokens).toBe(sum - total(cached.data!.generate.usage));
    expect(usage.month.totalTokens).toBeGreaterThanOrEqual(sum);

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    for (const kind of ['message', 'regenerate', 'generate', 'stream']) {
      expect(metrics).toMatch(new RegExp(`^tokens_total\\{role="users",kind="${kind}",model="default"\\} [1-9]`, 'm'));
    }
  });

  it('tells a subscribed page when the usage changed, with the new figures', async () => {
    const user = await t.newUser();
    const client = wsClient(t.url, user.accessToken);
    const changes: number[] = [];
    let resolveFirst: () => void;
    const firstChange = new Promise<void>((resolve) => (resolveFirst = resolve));
    const unsubscribe = client.subscribe(
      { query: (await import('graphql')).print(UsageChangedDocument) },
      {
        next: (result) => {
          changes.push((result.data as { usageChanged: { day: { totalTokens: number } } }).usageChanged.day.totalTokens);
          resolveFirst();
        },
        error: () => {},
        complete: () => {},
      },
    );
    // Subscribed before anything is published: graphql-ws acknowledges nothing, so wait for the server to listen.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const done = await follow(user.accessToken, (await send(user.accessToken, 'Hello')).id);
    await firstChange;
    expect(changes[0]).toBe(done.usage.totalTokens);
    unsubscribe();
    await client.dispose();
  });
});

describe('quotas', () => {
  it('lets a user at 990 of 1,000 start one more, then refuses until the next UTC midnight; others are unaffected', async () => {
    const [user, other] = [await t.newUser(), await t.newUser()];
    await seed(user.userId, 990);
    const before = await myUsage(user.accessToken);
    expect(before.usage.day).toMatchObject({ limit: 1000, remaining: 10, countedTokens: 990 });
    expect(before.quota).toEqual({ tokensPerDay: 1000, tokensPerMonth: null, overridden: false });

    const last = await follow(user.accessToken, (await send(user.accessToken, 'One more, please.', { maxTokens: 30, seed: 1 })).id);
    expect(last.usage.totalTokens).toBeGreaterThan(10);

    const refusals = [
      await t.gql(SendMessageDocument, { input: { content: 'And another.' } }, user.accessToken),
      await t.gql(GenerateDocument, { input: { prompt: 'x' } }, user.accessToken),
      await t.gql(RegenerateDocument, { messageId: last.message!.id }, user.accessToken),
    ];
    const midnight = nextDayStart(new Date()).toISOString();
    for (const refused of refusals) {
      expect(errorCodes(refused)).toEqual(['QUOTA_EXCEEDED']);
      expect(refused.errors![0]!.extensions!.resetsAt).toBe(midnight);
    }
    const client = wsClient(t.url, user.accessToken);
    const stream = await collectSubscription(client, GenerateStreamDocument, { input: { prompt: 'x' } });
    expect(stream.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['QUOTA_EXCEEDED']);
    await client.dispose();
    const after = await myUsage(user.accessToken);
    expect(after.usage.day).toMatchObject({ limit: 1000, remaining: 0, resetsAt: midnight, requests: 2 });

    await follow(other.accessToken, (await send(other.accessToken, 'Me too.')).id);

    // An admin's override applies from the next request; removing it restores the role's limit.
    const raised = await t.gql(SetUserQuotaDocument, { userId: user.userId, tokensPerDay: 5000 }, admin.accessToken);
    expect(raised.data!.setUserQuota.quota).toEqual({ tokensPerDay: 5000, tokensPerMonth: null, overridden: true });
    await follow(user.accessToken, (await send(user.accessToken, 'Thanks.')).id);
    const unlimited = await t.gql(SetUserQuotaDocument, { userId: user.userId, tokensPerDay: 0 }, admin.accessToken);
    expect(unlimited.data!.setUserQuota.quota.tokensPerDay).toBeNull();
    await t.gql(SetUserQuotaDocument, { userId: user.userId }, admin.accessToken);
    expect(errorCodes(await t.gql(SendMessageDocument, { input: { content: 'Again.' } }, user.accessToken))).toEqual(['QUOTA_EXCEEDED']);

    // Admins see anyone's usage and quota; admins themselves have none.
    const seen = await t.gql(UserUsageDocument, { id: user.userId }, admin.accessToken);
    expect(seen.data!.user.usage.day).toMatchObject({ limit: 1000, remaining: 0 });
    expect((await myUsage(admin.accessToken)).usage.day.limit).toBeNull();

    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^quota_exceeded_total\{role="users"\} [1-9]/m);
  });

  it('does not count replies from the response cache', async () => {
    const user = await t.newUser();
    await seed(user.userId, 995);
    const params = { maxTokens: 4, temperature: 0 };
    // Another user fills the cache; this one's identical request is then answered from it.
    await t.gql(GenerateDocument, { input: { prompt: 'Cached words', params } }, admin.accessToken);
    for (let i = 0; i < 3; i++) {
      const reply = await t.gql(GenerateDocument, { input: { prompt: 'Cached words', params } }, user.accessToken);
      expect(reply.data!.generate.cached).toBe(true);
    }
    expect((await myUsage(user.accessToken)).usage.day).toMatchObject({ countedTokens: 995, remaining: 5, requests: 4 });
  });
});

describe('usage report', () => {
  const day = (offset: number) => new Date(Date.UTC(2031, 0, 1 + offset));

  it('answers a page over 30 days × 100 users from indexed queries, and pages to the end', async () => {
    // Written in the shape the ledger writes (src/store/usage.ts) rather than through 3,000
    // recordings: what is measured here is reading.
    const users = Array.from({ length: 100 }, () => newId()).sort();
    const items: Record<string, unknown>[] = [];
    for (let d = 0; d < 30; d++) {
      const date = dayOf(day(d));
      for (const [u, userId] of users.entries()) items.push({ subject: `USER#${userId}`, period: `DAY#${date}`, day: date, promptTokens: u + 1, completionTokens: 1, quotaTokens: u + 2, requests: 1 });
      items.push({ subject: 'MODEL#default', period: `DAY#${date}`, day: date, promptTokens: 5050, completionTokens: 100, quotaTokens: 5150, requests: 100 });
    }
    for (let i = 0; i < items.length; i += 25) {
      await t.infra.dynamo.doc.send(new BatchWriteCommand({ RequestItems: { [t.infra.dynamo.tables.usage]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }));
    }
    const commands: string[] = [];
    t.infra.dynamo.doc.middlewareStack.add((next, context) => (args) => {
      commands.push(context.commandName ?? '');
      return next(args);
    }, { step: 'initialize', name: 'usageReportCommands' });
    const report = (groupBy: 'USER' | 'MODEL' | 'DAY', after?: string | null, first = 20) =>
      t.gql(UsageReportDocument, { from: day(0).toISOString(), to: day(30).toISOString(), groupBy, first, after }, admin.accessToken);

    const median = async (run: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 7; i++) {
        const started = performance.now();
        await run();
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[3]!;
    };
    const overHttp = await median(() => report('USER'));
    const inService = await median(() => t.app.services.usage.report({ from: day(0), to: day(30), groupBy: 'USER', first: 20 }));
    console.log(`usageReport, 30 days × 100 users, a page of 20 by user: median ${inService.toFixed(1)} ms in the service, ${overHttp.toFixed(1)} ms over HTTP (7 runs each)`);
    expect(overHttp).toBeLessThan(1000);
    expect(commands).toContain('QueryCommand');
    expect(commands).not.toContain('ScanCommand');
    t.infra.dynamo.doc.middlewareStack.remove('usageReportCommands');

    const rows: { key: string; promptTokens: number; user: { id: string } | null }[] = [];
    let after: string | null | undefined;
    do {
      const page = (await report('USER', after, 30)).data!.usageReport;
      rows.push(...page.edges.map((e) => e.node));
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : undefined;
    } while (after);
    expect(rows.map((r) => rawIdOf(r.key))).toEqual(users);
    expect(rows.map((r) => r.promptTokens)).toEqual(users.map((_, u) => 30 * (u + 1)));
    expect(rows.every((r) => r.user === null)).toBe(true); // made-up users: no profile

    const byModel = (await report('MODEL')).data!.usageReport.edges.map((e) => e.node);
    expect(byModel).toEqual([expect.objectContaining({ key: 'default', promptTokens: 30 * 5050, requests: 3000, user: null })]);
    const byDay = (await report('DAY', null, 7)).data!.usageReport;
    expect(byDay.edges.map((e) => e.node.key)).toEqual(Array.from({ length: 7 }, (_, d) => dayOf(day(d))));
    expect(byDay.pageInfo.hasNextPage).toBe(true);
    const lastDays = (await report('DAY', byDay.pageInfo.endCursor, 100)).data!.usageReport;
    expect(lastDays.edges).toHaveLength(23);
    expect(lastDays.pageInfo.hasNextPage).toBe(false);
  });

  it('names the user when grouped by user', async () => {
    const user = await t.newUser();
    await seed(user.userId, 7, new Date('2031-06-01T12:00:00Z'));
    const report = await t.gql(UsageReportDocument, { from: '2031-06-01T00:00:00Z', to: '2031-06-02T00:00:00Z', groupBy: 'USER' }, admin.accessToken);
    expect(report.data!.usageReport.edges.map((e) => e.node)).toEqual([
      { key: user.id, user: { id: user.id, email: user.email }, promptTokens: 7, completionTokens: 0, totalTokens: 7, requests: 1 },
    ]);
  });
});

describe('bad input', () => {
  it('refuses bad ranges, bad quotas and unknown users, and non-admins', async () => {
    const user = await t.newUser();
    const report = (from: string, to: string, token = admin.accessToken) => t.gql(UsageReportDocument, { from, to, groupBy: 'USER' }, token);
    expect(errorCodes(await report('2026-02-01T00:00:00Z', '2026-01-01T00:00:00Z'))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await report('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await report('2024-01-01T00:00:00Z', '2025-01-02T00:00:00Z'))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await report('2024-01-01T00:00:00Z', '2025-01-01T00:00:00Z'))).toEqual([]); // 366 days: a leap year
    expect(errorCodes(await report('2026-01-01T10:00:00Z', '2026-01-02T00:00:00Z'))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await report('2026-01-01', '2026-01-02T00:00:00Z'))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(UsageReportDocument, { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', groupBy: 'USER', after: 'nonsense' }, admin.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(UsageReportDocument, { from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', groupBy: 'USER', first: 0 }, admin.accessToken))).toEqual(['BAD_USER_INPUT']);

    expect(errorCodes(await t.gql(SetUserQuotaDocument, { userId: user.userId, tokensPerDay: -1 }, admin.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(SetUserQuotaDocument, { userId: user.userId, tokensPerMonth: -5 }, admin.accessToken))).toEqual(['BAD_USER_INPUT']);
    expect(errorCodes(await t.gql(SetUserQuotaDocument, { userId: newId(), tokensPerDay: 10 }, admin.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(SetUserQuotaDocument, { userId: 'x'.repeat(5000), tokensPerDay: 10 }, admin.accessToken))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await t.gql(UserUsageDocument, { id: newId() }, admin.accessToken))).toEqual(['NOT_FOUND']);
    // A refused change changed nothing.
    expect((await myUsage(user.accessToken)).quota).toEqual({ tokensPerDay: 1000, tokensPerMonth: null, overridden: false });

    expect(errorCodes(await report('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', user.accessToken))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(SetUserQuotaDocument, { userId: user.userId, tokensPerDay: 10 ** 6 }, user.accessToken))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(UserUsageDocument, { id: user.userId }, user.accessToken))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await t.gql(MyUsageDocument, {}))).toEqual(['UNAUTHENTICATED']);
  });
});
