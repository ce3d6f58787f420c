/**
 * The usage ledger in DynamoDB: one record per generation (`usageRecords`) and counters per user
 * and per model per UTC day (`usage`), plus per-user quota overrides. Table design in tables.ts.
 *
 * A generation must be counted exactly once, though its worker can die half-way through
 * recording it and the job then be recorded again by another. DynamoDB's transactions would do
 * it in one call, but dynalite (the embedded database and the tests' DynamoDB) has none, so the
 * record is the claim and each counter remembers which generations it holds while one is being
 * recorded:
 *   1. put the record (`state: applying`) unless it exists; if it does, go on with *its* figures;
 *   2. add to each counter, on condition that its `applied` set lacks the generation, and add the
 *      generation to the set in the same update (so a repeat is refused by the condition);
 *   3. mark the record `done`;
 *   4. take the generation out of each counter's set (a record already `done` only repeats this).
 * Any step can be repeated after a crash and counts nothing twice; `applied` holds only the
 * generations being recorded at that moment (one left behind by a crash between 3 and 4 costs
 * 26 bytes and nothing else). Recordings of one generation follow each other, never overlap:
 * only the worker holding the generation's lease records it (src/generation/worker.ts), and a
 * second one gets the job only once the first's lease has lapsed.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Dynamo } from './dynamo.ts';
import { queryAll } from './query-all.ts';
import { USAGE_INDEX } from './tables.ts';
import { dayOf, monthStartOf } from '../usage/periods.ts';
import type { UsageKind } from '../queue/job.ts';

export interface UsageEntry {
  userId: string;
  generationId: string;
  model: string;
  kind: UsageKind;
  /** Served from the response cache. */
  cached: boolean;
  /** Whether the tokens count against the user's quota (not for cached replies). */
  counted: boolean;
  promptTokens: number;
  completionTokens: number;
  finishReason: string;
  recordedAt: string;
}

export interface UsageTotals {
  promptTokens: number;
  completionTokens: number;
  /** The tokens that count against quotas. */
  quotaTokens: number;
  requests: number;
}

/** Per-user limits set by an admin; null: the role's. */
export interface QuotaOverride {
  tokensPerDay: number | null;
  tokensPerMonth: number | null;
}

export interface MonthUsage {
  day: UsageTotals;
  month: UsageTotals;
  override: QuotaOverride | undefined;
}

export type ReportSubject = 'USER' | 'MODEL';

export interface ReportRow {
  /** The user id, model name or ISO date. */
  key: string;
  totals: UsageTotals;
}

const SUBJECT_PREFIX: Record<ReportSubject, string> = { USER: 'USER#', MODEL: 'MODEL#' };
const QUOTA_PERIOD = 'QUOTA';
const userSubject = (userId: string) => `${SUBJECT_PREFIX.USER}${userId}`;
const dayPeriod = (day: string) => `DAY#${day}`;

export const emptyTotals = (): UsageTotals => ({ promptTokens: 0, completionTokens: 0, quotaTokens: 0, requests: 0 });

function addTo(sum: UsageTotals, item: Record<string, unknown>): void {
  sum.promptTokens += Number(item.promptTokens ?? 0);
  sum.completionTokens += Number(item.completionTokens ?? 0);
  sum.quotaTokens += Number(item.quotaTokens ?? 0);
  sum.requests += Number(item.requests ?? 0);
}

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

export class UsageRepository {
  constructor(
    private readonly db: Dynamo,
    private readonly recordTtlDays: number,
  ) {}

  private get tables() {
    return this.db.tables;
  }

  /**
   * Records a generation's usage once (see the file's comment). Returns the entry that counts,
   * which is an earlier recording's when there was one, and whether this call finished counting
   * it (false when an earlier one had).
   */
  async record(entry: UsageEntry): Promise<{ entry: UsageEntry; counted: boolean }> {
    const day = dayOf(new Date(entry.recordedAt));
    const expiresAt = Math.floor(Date.parse(entry.recordedAt) / 1000) + this.recordTtlDays * 86_400;
    let counting = entry;
    try {
      await this.db.doc.send(
        new PutCommand({
          TableName: this.tables.usageRecords,
          Item: { ...entry, day, state: 'applying', expiresAt },
          ConditionExpression: 'attribute_not_exists(generationId)',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const { Item } = await this.db.doc.send(
        new GetCommand({ TableName: this.tables.usageRecords, Key: { userId: entry.userId, generationId: entry.generationId }, ConsistentRead: true }),
      );
      const { state, day: _day, expiresAt: _expires, ...earlier } = Item as UsageEntry & { state: string; day: string; expiresAt: number };
      counting = earlier;
      if (state === 'done') {
        await this.unmark(counting);
        return { entry: counting, counted: false };
      }
    }
    await Promise.all(this.counterKeys(counting).map((key) => this.addOnce(key, counting)));
    await this.db.doc.send(
      new UpdateCommand({
        TableName: this.tables.usageRecords,
        Key: { userId: counting.userId, generationId: counting.generationId },
        UpdateExpression: 'SET #state = :done',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':done': 'done' },
      }),
    );
    await this.unmark(counting);
    return { entry: counting, counted: true };
  }

  /** The record of one generation, if it was recorded (and has not expired). */
  async recordOf(userId: string, generationId: string): Promise<UsageEntry | undefined> {
    const { Item } = await this.db.doc.send(new GetCommand({ TableName: this.tables.usageRecords, Key: { userId, generationId }, ConsistentRead: true }));
    if (!Item) return undefined;
    const { state: _state, day: _day, expiresAt: _expires, ...entry } = Item;
    return entry as UsageEntry;
  }

  private counterKeys(entry: UsageEntry) {
    const day = dayOf(new Date(entry.recordedAt));
    return [
      { subject: userSubject(entry.userId), period: dayPeriod(day), day },
      { subject: `${SUBJECT_PREFIX.MODEL}${entry.model}`, period: dayPeriod(day), day },
    ];
  }

  private async addOnce(key: { subject: string; period: string; day: string }, entry: UsageEntry): Promise<void> {
    try {
      await this.db.doc.send(
        new UpdateCommand({
          TableName: this.tables.usage,
          Key: { subject: key.subject, period: key.period },
          UpdateExpression: 'SET #day = :day ADD promptTokens :prompt, completionTokens :completion, quotaTokens :quota, requests :one, applied :generation',
          ConditionExpression: 'attribute_not_exists(applied) OR NOT contains(applied, :generationId)',
          ExpressionAttributeNames: { '#day': 'day' },
          ExpressionAttributeValues: {
            ':day': key.day,
            ':prompt': entry.promptTokens,
            ':completion': entry.completionTokens,
            ':quota': entry.counted ? entry.promptTokens + entry.completionTokens : 0,
            ':one': 1,
            ':generation': new Set([entry.generationId]),
            ':generationId': entry.generationId,
          },
        }),
      );
    } catch (error) {
      // Already added by an earlier recording of the same generation.
      if (!isConditionFailure(error)) throw error;
    }
  }

  private async unmark(entry: UsageEntry): Promise<void> {
    await Promise.all(
      this.counterKeys(entry).map((key) =>
        this.db.doc.send(
          new UpdateCommand({
            TableName: this.tables.usage,
            Key: { subject: key.subject, period: key.period },
            UpdateExpression: 'DELETE applied :generation',
            ExpressionAttributeValues: { ':generation': new Set([entry.generationId]) },
          }),
        ),
      ),
    );
  }

  /** A user's usage today and this month (UTC) and their quota override, in one consistent Query. */
  async month(userId: string, at: Date): Promise<MonthUsage> {
    const today = dayPeriod(dayOf(at));
    const result: MonthUsage = { day: emptyTotals(), month: emptyTotals(), override: undefined };
    // `QUOTA` sorts after every `DAY#…`, so the month's days and the override come together.
    const items = await queryAll(this.db.doc, {
      TableName: this.tables.usage,
      KeyConditionExpression: 'subject = :subject AND period >= :from',
      ExpressionAttributeValues: { ':subject': userSubject(userId), ':from': dayPeriod(monthStartOf(at)) },
      ConsistentRead: true,
    });
    for (const item of items) {
      if (item.period === QUOTA_PERIOD) {
        result.override = { tokensPerDay: (item.tokensPerDay as number | undefined) ?? null, tokensPerMonth: (item.tokensPerMonth as number | undefined) ?? null };
        continue;
      }
      // A clock behind another process's may find a day after `at`: it belongs to the month still.
      addTo(result.month, item);
      if (item.period === today) addTo(result.day, item);
    }
    return result;
  }

  async override(userId: string): Promise<QuotaOverride | undefined> {
    const { Item } = await this.db.doc.send(new GetCommand({ TableName: this.tables.usage, Key: { subject: userSubject(userId), period: QUOTA_PERIOD }, ConsistentRead: true }));
    return Item ? { tokensPerDay: Item.tokensPerDay ?? null, tokensPerMonth: Item.tokensPerMonth ?? null } : undefined;
  }

  /** Sets a user's override; both null removes it (the role's limits apply again). */
  async setOverride(userId: string, override: QuotaOverride): Promise<void> {
    const key = { subject: userSubject(userId), period: QUOTA_PERIOD };
    if (override.tokensPerDay === null && override.tokensPerMonth === null) {
      await this.db.doc.send(new DeleteCommand({ TableName: this.tables.usage, Key: key }));
      return;
    }
    await this.db.doc.send(new PutCommand({ TableName: this.tables.usage, Item: { ...key, ...override } }));
  }

  /**
   * One page of users or models with usage on `days`, in key order after `after`, each summed
   * over those days. Each day is one index Query of `first + 1` rows: a key among the page's
   * `first + 1` smallest is within every one of its days' first `first + 1` rows (otherwise that
   * day alone would show more smaller keys), so the sums are whole without reading further.
   */
  async subjectPage(days: readonly string[], subject: ReportSubject, first: number, after?: string): Promise<{ rows: ReportRow[]; hasNextPage: boolean }> {
    const prefix = SUBJECT_PREFIX[subject];
    const perDay = await Promise.all(days.map((day) => this.indexRows(day, prefix, first + 1, after)));
    const sums = new Map<string, UsageTotals>();
    for (const items of perDay) for (const item of items) sums.set(item.subject as string, emptyTotals());
    const keys = [...sums.keys()].sort().slice(0, first + 1);
    const kept = new Set(keys);
    for (const items of perDay) for (const item of items) if (kept.has(item.subject as string)) addTo(sums.get(item.subject as string)!, item);
    return {
      rows: keys.slice(0, first).map((key) => ({ key: key.slice(prefix.length), totals: sums.get(key)! })),
      hasNextPage: keys.length > first,
    };
  }

  /** Every model's usage on one day, summed: the day's total. */
  async dayTotal(day: string): Promise<UsageTotals> {
    const sum = emptyTotals();
    for (const item of await this.indexRows(day, SUBJECT_PREFIX.MODEL)) addTo(sum, item);
    return sum;
  }

  private async indexRows(day: string, prefix: string, limit?: number, after?: string): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined = after ? { day, subject: `${prefix}${after}`, period: dayPeriod(day) } : undefined;
    do {
      const page = await this.db.doc.send(
        new QueryCommand({
          TableName: this.tables.usage,
          IndexName: USAGE_INDEX.byDay,
          KeyConditionExpression: '#day = :day AND begins_with(subject, :prefix)',
          ExpressionAttributeNames: { '#day': 'day' },
          ExpressionAttributeValues: { ':day': day, ':prefix': prefix },
          ExclusiveStartKey: start,
          ...(limit ? { Limit: limit - rows.length } : {}),
        }),
      );
      rows.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start && (!limit || rows.length < limit));
    return rows;
  }
}
