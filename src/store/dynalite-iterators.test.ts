import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config.ts';
import { ConversationRepository } from './conversations.ts';
import { connectDynamo, type Dynamo } from './dynamo.ts';
import { MessageRepository } from './messages.ts';

/** The iterator prototype dynalite's database uses, reached as dynalite-iterators.ts reaches it. */
function iteratorPrototype(): { close(): Promise<void> } {
  const fromLevel = createRequire(createRequire(createRequire(import.meta.url).resolve('dynalite')).resolve('level'));
  const { AbstractValueIterator } = fromLevel('abstract-level') as { AbstractValueIterator: { prototype: object } };
  return Object.getPrototypeOf(AbstractValueIterator.prototype) as { close(): Promise<void> };
}

let dir: string;
let dynamo: Dynamo;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-iterators-'));
  dynamo = await connectDynamo(loadConfig({ DATA_DIR: dir }));
});
afterAll(async () => {
  await dynamo.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('the embedded store', () => {
  it('closes the database iterator of every query, whether it reads a page or to the end', async () => {
    const conversations = new ConversationRepository(dynamo, new MessageRepository(dynamo));
    for (let i = 0; i < 5; i++) await conversations.create('user-1', { title: `c${i}` });
    const close = vi.spyOn(iteratorPrototype(), 'close');
    try {
      for (let i = 0; i < 10; i++) {
        expect((await conversations.list('user-1', { first: 2 })).items).toHaveLength(2);
        expect((await conversations.list('user-1', { first: 20 })).items).toHaveLength(5);
      }
      await expect.poll(() => close.mock.calls.length).toBeGreaterThanOrEqual(20);
    } finally {
      close.mockRestore();
    }
  });
});
