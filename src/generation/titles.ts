/**
 * Titles written by the model: after a conversation's first reply, a small greedy generation
 * from its first exchange, stored only while the title is still the automatic one (the first
 * words of the first message stay until then, and for good if the model gives nothing usable).
 * Background work: recorded in the usage ledger under kind `title`, not counted against quotas.
 */
import type { Logger } from 'pino';
import type { ConversationService } from '../conversations/service.ts';
import type { GenerationEngine } from './engine.ts';
import type { ChatMessage } from '../inference/prompt.ts';
import { newId } from '../store/ids.ts';
import type { ConversationReplyJob, TitleJob } from '../queue/job.ts';
import { accountingOf } from '../queue/job.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { titleFrom } from './conversation-context.ts';

const INSTRUCTION = 'Write a short title, at most six words, for this conversation. Reply with the title only.';
/** The first exchange is given to the model up to this many characters per message. */
const MAX_CONTEXT_CHARS = 1000;
const TITLE_PARAMS = { maxTokens: 16, temperature: 0 };

/** The job that asks the model for a title after `reply`, the conversation's first. */
export function titleJob(reply: ConversationReplyJob, model: string): TitleJob {
  return {
    kind: 'title',
    generationId: newId(),
    userId: reply.userId,
    conversationId: reply.conversationId,
    enqueuedAt: new Date().toISOString(),
    params: { ...TITLE_PARAMS, model },
    accounting: { kind: 'title', role: accountingOf(reply).role },
  };
}

/** The title in what the model wrote: its first line, without a "Title:" label, quotes or markup; undefined if nothing is left. */
export function cleanTitle(text: string): string | undefined {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  const cleaned = line.replace(/^title\s*:\s*/i, '').replace(/["“”'`*#_]/g, '').replace(/\s+/g, ' ').trim();
  return /[\p{L}\p{N}]/u.test(cleaned) ? titleFrom(cleaned) : undefined;
}

export interface TitleWriterDeps {
  conversations: ConversationService;
  ledger: Pick<UsageLedger, 'record'>;
  logger: Logger;
}

export class TitleWriter {
  constructor(private readonly deps: TitleWriterDeps) {}

  async write(job: TitleJob, engine: GenerationEngine): Promise<void> {
    const { conversations } = this.deps;
    const conversation = await conversations.own(job.userId, job.conversationId).catch(() => undefined);
    if (!conversation || conversation.titleSource !== 'auto') return; // deleted, or titled by the user
    const exchange = (await conversations.branch(conversation)).slice(0, 2);
    if (exchange.length === 0) return;
    const messages: ChatMessage[] = [
      { role: 'system', content: INSTRUCTION },
      ...exchange.map((m) => ({ role: m.role, content: m.content.slice(0, MAX_CONTEXT_CHARS) })),
      { role: 'user', content: 'Title?' },
    ];
    const { model: _model, ...params } = job.params;
    let text = '';
    for await (const event of engine.generate({ input: { messages }, params })) {
      if (event.type === 'token') text += event.delta;
      else if (event.type === 'error') return this.deps.logger.warn({ conversationId: job.conversationId, error: event.message }, 'no title from the model');
      else await this.deps.ledger.record(job, { model: engine.model.name, usage: event.usage, cached: false, finishReason: event.finishReason });
    }
    const title = cleanTitle(text);
    if (title) await conversations.setAutoTitle(job.userId, job.conversationId, title);
  }
}
