/**
 * The conversation record's message count against dynalite: a message counted again (a write
 * retried after its answer was lost, a reply's job delivered again) is counted once.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { ConversationRepository } from './conversations.ts';
import { connectDynamo, type Dynamo } from './dynamo.ts';
import { MessageRepository } from './messages.ts';
import { newId } from './ids.ts';

let dir: string;
let dynamo: Dynamo;
let conversations: ConversationRepository;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-conversations-'));
  dynamo = await connectDynamo(loadConfig({ DATA_DIR: dir }));
  conversations = new ConversationRepository(dynamo, new MessageRepository(dynamo));
});
afterAll(async () => {
  await dynamo?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('counting messages into a conversation', () => {
  it('counts each message once however often it is counted, and any number without an id', async () => {
    const userId = newId();
    const { conversationId } = await conversations.create(userId, { title: 'Counted' });
    const [question, reply] = [newId(), newId()];
    expect(await conversations.touch(userId, conversationId, 1, { countedId: question, activeLeafId: question })).toMatchObject({ messageCount: 1, activeLeafId: question });
    expect(await conversations.touch(userId, conversationId, 1, { countedId: question, activeLeafId: question })).toMatchObject({ messageCount: 1 });
    expect(await conversations.touch(userId, conversationId, 1, { countedId: reply })).toMatchObject({ messageCount: 2, activeLeafId: question });
    expect(await conversations.touch(userId, conversationId, 1, { countedId: reply })).toMatchObject({ messageCount: 2 });
    // A batch (an import, a fork) names no message: counted as sent.
    expect(await conversations.touch(userId, conversationId, 3)).toMatchObject({ messageCount: 5 });
    expect(await conversations.touch(userId, newId(), 1, { countedId: newId() })).toBeUndefined();
  });
});
