/**
 * The API side of generation: validates a request, stores the user's message, records the
 * generation and puts a job on the queue, then lets clients follow it through the stream store.
 * It never runs the model.
 */
import type { Identity } from '../auth/identity.ts';
import { AppError, ErrorCode, badInput, notFound } from '../errors.ts';
import { resolveParams, type GenerationParams } from '../inference/params.ts';
import type { ChatMessage } from '../inference/prompt.ts';
import type { ConversationService } from '../conversations/service.ts';
import type { ConversationRecord } from '../store/conversations.ts';
import { isId, newId } from '../store/ids.ts';
import type { MessageRecord, MessageRepository } from '../store/messages.ts';
import type { FileService } from '../files/service.ts';
import { titleFrom } from './conversation-context.ts';
import type { GenerationMeta, StreamEvent } from '../streams/events.ts';
import type { GenerationJob } from '../queue/job.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { GenerationRateLimiter, RateLimitState } from './rate-limit.ts';
import type { StreamStore } from '../streams/stream-store.ts';

/** Ranges checked here are model-independent; the worker checks the rest against its model. */
const API_DEFAULTS = { maxTokens: 256, temperature: 0.8, topK: 0, topP: 1, repetitionPenalty: 1 };
const ANY_VOCAB = 10_000_000;
export const MAX_ATTACHMENTS = 10;

export interface GenerationServiceDeps {
  queue: JobQueue;
  streams: StreamStore;
  limiter: GenerationRateLimiter;
  conversations: ConversationService;
  messages: MessageRepository;
  files: Pick<FileService, 'ownAll'>;
  maxMessageChars: number;
  onRateLimited?: () => void;
}

export interface StartedGeneration {
  meta: GenerationMeta;
  conversation: ConversationRecord;
  userMessage: MessageRecord;
}

export type StatelessInput = { prompt: string } | { messages: ChatMessage[] };

export class GenerationService {
  constructor(private readonly deps: GenerationServiceDeps) {}

  /** Stores the message (in a new conversation when none is given) and starts the reply. */
  async sendMessage(
    identity: Identity,
    input: { conversationId?: string | null; content: string; parentId?: string | null; fileIds?: readonly string[] | null; params?: GenerationParams | null },
    onRateLimit?: (state: RateLimitState) => void,
  ): Promise<StartedGeneration> {
    const content = this.checkContent(input.content, 'content');
    const params = checkParams(input.params);
    const fileIds = await this.checkFiles(identity, input.fileIds);
    await this.limit(identity, onRateLimit);
    const { conversations, messages } = this.deps;
    const existing = input.conversationId ? await conversations.own(identity.userId, input.conversationId) : undefined;
    const conversation = existing ?? (await conversations.create(identity.userId, { title: titleFrom(content) }));
    const parentId = input.parentId
      ? (await this.ownMessage(identity, input.parentId, conversation.conversationId)).messageId
      : existing
        ? (await messages.recent(conversation.conversationId, 1))[0]?.messageId
        : undefined;
    const userMessage = await messages.add({ conversationId: conversation.conversationId, userId: identity.userId, role: 'user', content, parentId, ...(fileIds.length > 0 ? { fileIds } : {}) });
    // The job goes out as soon as the message it answers is stored; the bookkeeping follows.
    const [meta, touched] = await Promise.all([
      this.enqueueReply(identity, conversation.conversationId, userMessage.messageId, params),
      conversations.messageAdded(identity.userId, conversation.conversationId, userMessage.messageId).then((updated) => updated ?? conversation),
    ]);
    return { meta, conversation: touched, userMessage };
  }

  /** A new reply to the message `messageId` answers (or to it, if it is the user's). */
  async regenerate(identity: Identity, messageId: string, params?: GenerationParams | null, onRateLimit?: (state: RateLimitState) => void) {
    const checked = checkParams(params);
    const message = await this.ownMessage(identity, messageId);
    const userMessage = message.role === 'assistant' && message.parentId ? await this.deps.messages.get(message.conversationId, message.parentId) : message;
    if (!userMessage || userMessage.role !== 'user') throw badInput('Only replies to a user message can be regenerated', { argument: 'messageId' });
    await this.limit(identity, onRateLimit);
    const conversation = await this.deps.conversations.own(identity.userId, message.conversationId);
    const meta = await this.enqueueReply(identity, conversation.conversationId, userMessage.messageId, checked);
    return { meta, conversation, userMessage };
  }

  /** A generation without a conversation (`generate`, `generateStream`): nothing is stored. */
  async startStateless(identity: Identity, input: StatelessInput, params?: GenerationParams | null, onRateLimit?: (state: RateLimitState) => void) {
    if ('prompt' in input) this.checkContent(input.prompt, 'prompt');
    else {
      if (input.messages.length === 0) throw badInput('messages must not be empty', { argument: 'messages' });
      input.messages.forEach((m) => this.checkContent(m.content, 'messages'));
    }
    const checked = checkParams(params);
    await this.limit(identity, onRateLimit);
    return this.enqueue({ kind: 'stateless', ...this.newJob(identity, checked), input });
  }

  /** The user's generation, or NOT_FOUND (also for someone else's). */
  async own(identity: Identity, generationId: string): Promise<GenerationMeta> {
    const meta = isId(generationId) ? await this.deps.streams.get(generationId) : undefined;
    if (!meta || meta.userId !== identity.userId) throw notFound('Generation');
    return meta;
  }

  async cancel(identity: Identity, generationId: string): Promise<GenerationMeta> {
    const meta = await this.own(identity, generationId);
    if (meta.status === 'QUEUED' || meta.status === 'RUNNING') await this.deps.streams.requestCancel(generationId);
    return meta;
  }

  events(meta: GenerationMeta, after: number): AsyncIterable<StreamEvent> {
    if (!Number.isInteger(after) || after < 0) throw badInput('after must be a whole number, 0 or more', { argument: 'after' });
    return this.deps.streams.subscribe(meta.generationId, after);
  }

  private newJob(identity: Identity, params: GenerationParams) {
    return { generationId: newId(), userId: identity.userId, enqueuedAt: new Date().toISOString(), params };
  }

  private enqueueReply(identity: Identity, conversationId: string, parentMessageId: string, params: GenerationParams) {
    return this.enqueue({ kind: 'conversation-reply', ...this.newJob(identity, params), conversationId, parentMessageId, replyMessageId: newId() });
  }

  /** Records the generation (so that clients can follow it at once), then hands the job to a worker. */
  private async enqueue(job: GenerationJob): Promise<GenerationMeta> {
    const reply = job.kind === 'conversation-reply' ? job : undefined;
    const meta: GenerationMeta = {
      generationId: job.generationId,
      userId: job.userId,
      conversationId: reply?.conversationId,
      userMessageId: reply?.parentMessageId,
      replyMessageId: reply?.replyMessageId,
      status: 'QUEUED',
      createdAt: job.enqueuedAt,
    };
    await this.deps.streams.create(meta);
    await this.deps.queue.enqueue(job);
    return meta;
  }

  private async limit(identity: Identity, onRateLimit?: (state: RateLimitState) => void) {
    try {
      const state = await this.deps.limiter.consume(identity.userId, identity.roles);
      if (state) onRateLimit?.(state);
    } catch (error) {
      if (error instanceof AppError && error.code === ErrorCode.RATE_LIMITED) {
        this.deps.onRateLimited?.();
        onRateLimit?.(error.extra.rateLimit as RateLimitState);
      }
      throw error;
    }
  }

  /** The attached ids, each one of the user's files (NOT_FOUND otherwise), without repeats. */
  private async checkFiles(identity: Identity, fileIds: readonly string[] | null | undefined): Promise<string[]> {
    const unique = [...new Set(fileIds ?? [])];
    if (unique.length > MAX_ATTACHMENTS) throw badInput(`At most ${MAX_ATTACHMENTS} files can be attached to a message`, { argument: 'fileIds' });
    if (unique.length > 0) await this.deps.files.ownAll(identity.userId, unique);
    return unique;
  }

  private checkContent(value: string, argument: string): string {
    if (value.trim().length === 0) throw badInput(`${argument} must not be empty`, { argument });
    if (value.length > this.deps.maxMessageChars) {
      throw badInput(`${argument} must be at most ${this.deps.maxMessageChars} characters`, { argument });
    }
    return value;
  }

  private async ownMessage(identity: Identity, messageId: string, conversationId?: string): Promise<MessageRecord> {
    const message = !isId(messageId)
      ? undefined
      : conversationId
        ? await this.deps.messages.get(conversationId, messageId)
        : await this.deps.messages.findById(messageId);
    if (!message || message.userId !== identity.userId) throw notFound('Message');
    return message;
  }
}

/** Validates parameters for their model-independent ranges (BAD_USER_INPUT naming the field). */
function checkParams(params: GenerationParams | null | undefined): GenerationParams {
  const given = params ?? {};
  resolveParams(given, API_DEFAULTS, ANY_VOCAB);
  return given;
}
