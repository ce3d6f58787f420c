/**
 * The usage ledger against dynalite: a generation counts once however often (and however far)
 * its recording is repeated, months and days are summed as the quota reads them, and report
 * pages are exact and complete without reading whole days.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { connectDynamo, type Dynamo } from './dynamo.ts';
import { newId } from './ids.ts';
import { UsageRepository, type UsageEntry } from './usage.ts';

let dir: string;
let dynamo: Dynamo;
let usage: UsageRepository;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-usage-'));
  dynamo = await connectDynamo(loadConfig({ DATA_DIR: dir }));
  usage = new UsageRepository(dynamo, 30);
});
afterAll(async () => {
  await dynamo?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

function entry(over: Partial<UsageEntry> = {}): UsageEntry {
  return {
    userId: newId(),
    generationId: newId(),
    model: 'default',
    kind: 'message',
    cached: false,
    counted: true,
    promptTokens: 10,
    completionTokens: 5,
    finishReason: 'stop',
    recordedAt: '2026-12-01T10:00:00.000Z',
    ...over,
  };
}

describe('UsageRepository.record', () => {
  it('counts a generation once, and a repeat returns the first recording’s figures', async () => {
    const first = entry();
    expect(await usage.record(first)).toEqual({ entry: first, counted: true });
    // A second worker recording the same generation with other figures (it resumed the reply).
    const again = await usage.record({ ...first, promptTokens: 99, completionTokens: 1 });
    expect(again).toEqual({ entry: first, counted: false });
    const month = await usage.month(first.userId, new Date('2026-12-15T00:00:00Z'));
    expect(month.month).toEqual({ promptTokens: 10, completionTokens: 5, quotaTokens: 15, requests: 1 });
    expect(month.day).toEqual({ promptTokens: 0, completionTokens: 0, quotaTokens: 0, requests: 0 });
    const record = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tables.usageRecords, Key: { userId: first.userId, generationId: first.generationId } }));
    expect(record.Item).toMatchObject({ state: 'done', day: '2026-12-01', expiresAt: Date.parse(first.recordedAt) / 1000 + 30 * 86_400 });
  });

  it('finishes a recording a crash interrupted after any step, counting nothing twice', async () => {
    const recordKey = (e: UsageEntry) => ({ userId: e.userId, generationId: e.generationId });
    const userDay = (e: UsageEntry) => ({ subject: `USER#${e.userId}`, period: 'DAY#2026-12-01' });
    const applied = async (e: UsageEntry) =>
      (await dynamo.doc.send(new GetCommand({ TableName: dynamo.tables.usage, Key: userDay(e), ConsistentRead: true }))).Item?.applied as Set<string> | undefined;
    const addToUserDay = (e: UsageEntry) =>
      dynamo.doc.send(
        new UpdateCommand({
          TableName: dynamo.tables.usage,
          Key: userDay(e),
          UpdateExpression: 'SET #day = :day ADD promptTokens :p, completionTokens :c, quotaTokens :q, requests :one, applied :g',
          ExpressionAttributeNames: { '#day': 'day' },
          ExpressionAttributeValues: { ':day': '2026-12-01', ':p': e.promptTokens, ':c': e.completionTokens, ':q': 15, ':one': 1, ':g': new Set([e.generationId]) },
        }),
      );
    // The states a worker can leave behind, written as the steps would have left them.
    const crashes: Record<string, (e: UsageEntry) => Promise<unknown>> = {
      'after the record was put': (e) => dynamo.doc.send(new PutCommand({ TableName: dynamo.tables.usageRecords, Item: { ...e, state: 'applying' } })),
      'after one counter was added to': async (e) => {
        await crashes['after the record was put']!(e);
        await addToUserDay(e);
      },
      'after the record was marked done': async (e) => {
        await dynamo.doc.send(new PutCommand({ TableName: dynamo.tables.usageRecords, Item: { ...e, state: 'done' } }));
        await addToUserDay(e);
      },
    };
    for (const [when, crash] of Object.entries(crashes)) {
      const interrupted = entry();
      await crash(interrupted);
      await usage.record({ ...interrupted, completionTokens: 1000 });
      const month = await usage.month(interrupted.userId, new Date('2026-12-01T23:00:00Z'));
      expect(month.day, when).toEqual({ promptTokens: 10, completionTokens: 5, quotaTokens: 15, requests: 1 });
      expect(await applied(interrupted), when).toBeUndefined();
      const record = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tables.usageRecords, Key: recordKey(interrupted) }));
      expect(record.Item?.state, when).toBe('done');
    }
  });

  it('keeps cached replies out of the quota count', async () => {
    const userId = newId();
    const cached = entry({ userId, cached: true, counted: false });
    const plain = entry({ userId, promptTokens: 7, completionTokens: 3 });
    await Promise.all([usage.record(cached), usage.record(plain)]);
    await usage.record(plain);
    const { day } = await usage.month(userId, new Date('2026-12-01T12:00:00Z'));
    expect(day).toEqual({ promptTokens: 17, completionTokens: 8, quotaTokens: 10, requests: 2 });
  });
});

describe('UsageRepository.month', () => {
  it('sums the month’s days, today apart, and reads the override in the same query', async () => {
    const userId = newId();
    for (const [at, tokens] of [['2026-11-30T23:59:59Z', 1], ['2026-12-01T00:00:00Z', 2], ['2026-12-09T08:00:00Z', 4], ['2026-12-10T01:00:00Z', 8]] as const) {
      await usage.record(entry({ userId, recordedAt: new Date(at).toISOString(), promptTokens: tokens, completionTokens: 0 }));
    }
    await usage.setOverride(userId, { tokensPerDay: 500, tokensPerMonth: null });
    const result = await usage.month(userId, new Date('2026-12-10T22:00:00Z'));
    expect(result.day.quotaTokens).toBe(8);
    expect(result.month.quotaTokens).toBe(14);
    expect(result.override).toEqual({ tokensPerDay: 500, tokensPerMonth: null });
    await usage.setOverride(userId, { tokensPerDay: null, tokensPerMonth: null });
    expect((await usage.month(userId, new Date('2026-12-10T22:00:00Z'))).override).toBeUndefined();
    expect(await usage.override(userId)).toBeUndefined();
  });
});

describe('UsageRepository.subjectPage', () => {
  it('pages users and models in key order with whole sums, for any usage pattern and page size', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Per day (3 days), which of 8 users used how much.
        fc.array(fc.array(fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }), { minLength: 8, maxLength: 8 }), { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 1, max: 4 }),
        async (pattern, first) => {
          // A fresh year per run, so that runs do not see each other's rows.
          const year = 3000 + Math.floor(Math.random() * 5000);
          const days = ['01', '02', '03'].map((d) => `${year}-01-${d}`);
          const users = Array.from({ length: 8 }, () => newId()).sort();
          const expected = new Map<string, number>();
          for (const [d, row] of pattern.entries()) {
            for (const [u, tokens] of row.entries()) {
              if (tokens === undefined) continue;
              await usage.record(entry({ userId: users[u]!, model: `m${u % 3}`, recordedAt: `${days[d]}T12:00:00.000Z`, promptTokens: tokens, completionTokens: 1 }));
              expected.set(users[u]!, (expected.get(users[u]!) ?? 0) + tokens);
            }
          }
          const seen: [string, number][] = [];
          let after: string | undefined;
          for (;;) {
            const page = await usage.subjectPage(days, 'USER', first, after);
            expect(page.rows.length).toBeLessThanOrEqual(first);
            seen.push(...page.rows.map((row) => [row.key, row.totals.promptTokens] as [string, number]));
            if (!page.hasNextPage) break;
            after = page.rows.at(-1)!.key;
          }
          expect(seen).toEqual([...expected.entries()].sort(([a], [b]) => a.localeCompare(b)));
          const models = await usage.subjectPage(days, 'MODEL', 10);
          const total = [...expected.values()].reduce((a, b) => a + b, 0);
          expect(models.rows.reduce((sum, row) => sum + row.totals.promptTokens, 0)).toBe(total);
          expect((await Promise.all(days.map((day) => usage.dayTotal(day)))).reduce((sum, t) => sum + t.promptTokens, 0)).toBe(total);
        },
      ),
      { numRuns: 15 },
    );
  });
});
