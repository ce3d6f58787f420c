/**
 * Search over one user's 20,000 messages (200 conversations of 100), on embedded DynamoDB:
 * the first search, which builds the user's index from the database, and warm searches, which
 * use it; with the index's estimated bytes and the heap it really took.
 *
 *   npm run bench:search [-- --messages 20000]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { createConversationEvents } from '../src/conversations/events.ts';
import { ConversationService } from '../src/conversations/service.ts';
import { createLogger } from '../src/observability/logger.ts';
import { createMemoryPubSub } from '../src/pubsub.ts';
import { SearchService } from '../src/search/service.ts';
import { batchWriteAll } from '../src/store/batch-write.ts';
import { ConversationRepository } from '../src/store/conversations.ts';
import { connectDynamo } from '../src/store/dynamo.ts';
import { newId } from '../src/store/ids.ts';
import { LabelRepository } from '../src/store/labels.ts';
import { MessageRepository } from '../src/store/messages.ts';
import { ShareRepository } from '../src/store/shares.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' } } });
const total = Number(values.messages);
const PER_CONVERSATION = 100;
const WORDS = 'harbor lighthouse keeper winter storm ship sail anchor rope tide moon star river bridge market garden letter bottle morning evening'.split(' ');

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-bench-search-'));
const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: 'silent' });
const logger = createLogger('silent');
const dynamo = await connectDynamo(config);
const messages = new MessageRepository(dynamo);
const events = createConversationEvents(createMemoryPubSub(), 'bench:', logger);
const conversations = new ConversationService({
  conversations: new ConversationRepository(dynamo, messages),
  messages,
  labels: new LabelRepository(dynamo),
  shares: new ShareRepository(dynamo),
  publicUrl: 'http://localhost',
  events,
  audit: () => {},
  maxMessageChars: 32_000,
});

const userId = 'bench-user';
let seed = 1;
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
const sentence = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');

const seeding = performance.now();
for (let c = 0; c < total / PER_CONVERSATION; c++) {
  const conversation = await conversations.create(userId, { title: sentence(4) });
  const items = Array.from({ length: PER_CONVERSATION }, (_, m) => ({
    PutRequest: {
      Item: { conversationId: conversation.conversationId, messageId: newId(), userId, role: m % 2 ? 'assistant' : 'user', content: `${sentence(30)} item${c}x${m}`, createdAt: new Date().toISOString() },
    },
  }));
  await batchWriteAll(dynamo.doc, dynamo.tables.messages, items);
}
console.log(`seeded ${total} messages in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);

const service = new SearchService({ conversations, messages, events, maxBytes: 2 ** 30, logger });
const heapBefore = process.memoryUsage().heapUsed;
let started = performance.now();
const first = await service.search(userId, 'lighthouse storm', { first: 20 });
const firstMs = performance.now() - started;
const times: number[] = [];
for (const query of Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'light' : i % 3 === 1 ? 'harbors anchor' : `item${i}x7`))) {
  started = performance.now();
  await service.search(userId, query, { first: 20 });
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
globalThis.gc?.();
const heapAfter = process.memoryUsage().heapUsed;

console.log(`first search (builds the index of ${total} messages): ${firstMs.toFixed(0)} ms, ${first.hits.length} hits on its page`);
console.log(`warm search: median ${times[15]!.toFixed(1)} ms, p90 ${times[27]!.toFixed(1)} ms (30 queries, pages of 20, snippets read from the database)`);
console.log(`index: ${(service.cachedBytes / 2 ** 20).toFixed(1)} MiB estimated, heap grew ${((heapAfter - heapBefore) / 2 ** 20).toFixed(1)} MiB`);
await dynamo.close();
await fs.rm(dir, { recursive: true, force: true });
