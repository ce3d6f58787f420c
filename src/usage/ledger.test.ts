/**
 * The worker's ledger against dynalite: a redelivered generation whose second run used nothing
 * (it was cancelled before it started again) reports and keeps the first run's recorded usage.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import type { ConversationReplyJob } from '../queue/job.ts';
import { connectDynamo, type Dynamo } from '../store/dynamo.ts';
import { newId } from '../store/ids.ts';
import { UsageRepository } from '../store/usage.ts';
import { UsageLedger } from './ledger.ts';

let dir: string;
let dynamo: Dynamo;
let usage: UsageRepository;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-ledger-'));
  dynamo = await connectDynamo(loadConfig({ DATA_DIR: dir }));
  usage = new UsageRepository(dynamo, 30);
});
afterAll(async () => {
  await dynamo?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const job = (): ConversationReplyJob => ({
  kind: 'conversation-reply',
  generationId: newId(),
  userId: newId(),
  enqueuedAt: new Date().toISOString(),
  params: {},
  accounting: { kind: 'message', role: 'users' },
  conversationId: newId(),
  replyMessageId: newId(),
  parentMessageId: newId(),
});

describe('UsageLedger', () => {
  it('keeps the first run’s usage when a redelivered run used nothing', async () => {
    const changed: string[] = [];
    const ledger = new UsageLedger({ usage, events: { changed: (userId) => changed.push(userId) } });
    const redelivered = job();
    const outcome = { model: 'default', cached: false, finishReason: 'cancelled' };
    expect(await ledger.record(redelivered, { ...outcome, usage: { promptTokens: 12, completionTokens: 8 } })).toEqual({ promptTokens: 12, completionTokens: 8 });
    expect(await ledger.record(redelivered, { ...outcome, usage: { promptTokens: 0, completionTokens: 0 } })).toEqual({ promptTokens: 12, completionTokens: 8 });
    expect((await usage.month(redelivered.userId, new Date())).day).toMatchObject({ promptTokens: 12, completionTokens: 8, requests: 1 });
    expect(changed).toEqual([redelivered.userId]);

    const never = job();
    expect(await ledger.record(never, { ...outcome, usage: { promptTokens: 0, completionTokens: 0 } })).toEqual({ promptTokens: 0, completionTokens: 0 });
    expect(await usage.recordOf(never.userId, never.generationId)).toBeUndefined();
  });
});
