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
import { lastReplyModel, titleFrom } from './conversation-context.ts';
import type { ModelDirectory } from './model-directory.ts';
import type { GenerationMeta, StreamEvent } from '../streams/events.ts';
import type { GenerationJob, UsageKind } from '../queue/job.ts';
import { limitTier } from '../auth/roles.ts';
import type { UsageService } from '../usage/service.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { GenerationRateLimiter, RateLimitState } from './rate-limit.ts';
import type { StreamStore } from '../streams/stream-store.ts';
import { inSpan, SpanKind, traceCarrier } from '../observability/tracing.ts';

/** Ranges checked here are model-independent; the worker checks the rest against its model. */
const API_DEFAULTS = { maxTokens: 256, temperature: 0.8, topK: 0, topP: 1, repetitionPenalty: 1 };
const ANY_VOCAB = 10_000_000;
export const MAX_ATTACHMENTS = 10;
/** Messages read back to find the model of a conversation's last reply (it is near the end of the branch). */
const REPLY_MODEL_WINDOW = 20;

/** Parameters as clients send them: the sampling settings, and which model answers. */
export type RequestParams = GenerationParams & { model?: string | null };

/** The models served when a request came in (the first is the default), and the one it asked for. */
interface ModelChoice {
  served: string[];
  requested: string | undefined;
}

export interface GenerationServiceDeps {
  queue: JobQueue;
  streams: StreamStore;
  limiter: GenerationRateLimiter;
  /** Token quotas, checked before the rate limit (a refused request uses none of it). */
  quota: Pick<UsageService, 'check'>;
  conversations: ConversationService;
  messages: MessageRepository;
  files: Pick<FileService, 'ownAll'>;
  /** The models workers serve: a job names one of them, checked here before it is queued. */
  models: Pick<ModelDirectory, 'list'>;
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
    input: { conversationId?: string | null; content: string; parentId?: string | null; fileIds?: readonly string[] | null; params?: RequestParams | null },
    onRateLimit?: (state: RateLimitState) => void,
  ): Promise<StartedGeneration> {
    const content = this.checkContent(input.content, 'content');
    const params = checkParams(input.params);
    const choice = await this.checkModel(params.model);
    const fileIds = await this.checkFiles(identity, input.fileIds);
    await this.limit(identity, onRateLimit);
    const { conversations, messages } = this.deps;
    const existing = input.conversationId ? await conversations.own(identity.userId, input.conversationId) : undefined;
    const conversation = existing ?? (await conversations.create(identity.userId, {}, titleFrom(content)));
    const recent = existing ? await messages.recent(conversation.conversationId, REPLY_MODEL_WINDOW) : [];
    const parent = input.parentId ? await this.ownMessage(identity, input.parentId, conversation.conversationId) : existing ? await this.activeLeaf(existing) : undefined;
    // Unless the request names a model, the conversation goes on with the one that last answered.
    const kept = parent && (parent.role === 'assistant' ? parent.model : lastReplyModel(recent, parent.messageId));
    const userMessage = await messages.add({ conversationId: conversation.conversationId, userId: identity.userId, role: 'user', content, parentId: parent?.messageId, ...(fileIds.length > 0 ? { fileIds } : {}) });
    return this.answer(identity, 'message', conversation, userMessage, { ...params, model: pickModel(choice, kept) });
  }

  /**
   * A new version of the user's message `messageId`: a message beside it (the same parent, the
   * same attachments) with `content`, and a reply to it; the old branch stays. The reply is by
   * the model that last answered before the edited message unless `params.model` says.
   */
  async editMessage(identity: Identity, messageId: string, content: string, params?: RequestParams | null, onRateLimit?: (state: RateLimitState) => void): Promise<StartedGeneration> {
    const text = this.checkContent(content, 'content');
    const checked = checkParams(params);
    const choice = await this.checkModel(checked.model);
    const edited = await this.ownMessage(identity, messageId);
    if (edited.role !== 'user') throw badInput('Only your own messages can be edited; regenerate a reply instead', { argument: 'messageId' });
    await this.limit(identity, onRateLimit);
    const conversation = await this.deps.conversations.own(identity.userId, edited.conversationId);
    const recent = await this.deps.messages.recent(conversation.conversationId, REPLY_MODEL_WINDOW);
    const kept = edited.parentId ? lastReplyModel(recent, edited.parentId) : undefined;
    const userMessage = await this.deps.messages.add({
      conversationId: conversation.conversationId,
      userId: identity.userId,
      role: 'user',
      content: text,
      parentId: edited.parentId,
      ...(edited.fileIds?.length ? { fileIds: edited.fileIds } : {}),
    });
    return this.answer(identity, 'edit', conversation, userMessage, { ...checked, model: pickModel(choice, kept) });
  }

  /**
   * Makes the new user message the end of the active branch, then queues its reply. In this
   * order: the worker moves the branch on to the reply only from the message it answers.
   */
  private async answer(identity: Identity, kind: UsageKind, conversation: ConversationRecord, userMessage: MessageRecord, params: RequestParams): Promise<StartedGeneration> {
    const touched = await this.deps.conversations.messageAdded(identity.userId, conversation.conversationId, userMessage.messageId, true);
    const meta = await this.enqueueReply(identity, kind, conversation.conversationId, userMessage.messageId, params);
    return { meta, conversation: touched ?? conversation, userMessage };
  }

  /** The last message of the conversation's active branch. */
  private async activeLeaf(conversation: ConversationRecord): Promise<MessageRecord | undefined> {
    const leaf = this.deps.conversations.activeLeaf(conversation, await this.deps.conversations.tree(conversation.conversationId));
    return leaf ? this.deps.messages.get(conversation.conversationId, leaf) : undefined;
  }

  /**
   * A new reply to the message `messageId` answers (or to it, if it is the user's), by the model
   * of the reply regenerated (of the last reply before it, for a user message) unless `params.model` says.
   */
  async regenerate(identity: Identity, messageId: string, params?: RequestParams | null, onRateLimit?: (state: RateLimitState) => void) {
    const checked = checkParams(params);
    const choice = await this.checkModel(checked.model);
    const message = await this.ownMessage(identity, messageId);
    const userMessage = message.role === 'assistant' && message.parentId ? await this.deps.messages.get(message.conversationId, message.parentId) : message;
    if (!userMessage || userMessage.role !== 'user') throw badInput('Only replies to a user message can be regenerated', { argument: 'messageId' });
    await this.limit(identity, onRateLimit);
    const conversation = await this.deps.conversations.own(identity.userId, message.conversationId);
    const kept =
      message.role === 'assistant'
        ? message.model
        : lastReplyModel(await this.deps.messages.recent(conversation.conversationId, REPLY_MODEL_WINDOW), userMessage.messageId);
    // The branch shown ends at the message answered until the new reply is stored (the worker moves it on).
    const shown = await this.deps.conversations.showBranchTo(identity.userId, conversation.conversationId, userMessage.messageId);
    const meta = await this.enqueueReply(identity, 'regenerate', conversation.conversationId, userMessage.messageId, { ...checked, model: pickModel(choice, kept) });
    return { meta, conversation: shown ?? conversation, userMessage };
  }

  /** A generation without a conversation (`generate`, `generateStream`, `/v1`: `kind`): nothing is stored. */
  async startStateless(
    identity: Identity,
    kind: Extract<UsageKind, 'generate' | 'stream' | 'api'>,
    input: StatelessInput,
    params?: RequestParams | null,
    onRateLimit?: (state: RateLimitState) => void,
  ) {
    if ('prompt' in input) this.checkContent(input.prompt, 'prompt');
    else {
      if (input.messages.length === 0) throw badInput('messages must not be empty', { argument: 'messages' });
      input.messages.forEach((m) => this.checkContent(m.content, 'messages'));
    }
    const checked = checkParams(params);
    const choice = await this.checkModel(checked.model);
    await this.limit(identity, onRateLimit);
    return this.enqueue({ kind: 'stateless', ...this.newJob(identity, kind, { ...checked, model: pickModel(choice) }), input });
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

  private newJob(identity: Identity, kind: UsageKind, params: RequestParams) {
    const accounting = { kind, role: limitTier(identity.roles) };
    return { generationId: newId(), userId: identity.userId, enqueuedAt: new Date().toISOString(), params, accounting };
  }

  private enqueueReply(identity: Identity, kind: UsageKind, conversationId: string, parentMessageId: string, params: RequestParams) {
    return this.enqueue({ kind: 'conversation-reply', ...this.newJob(identity, kind, params), conversationId, parentMessageId, replyMessageId: newId() });
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
    await inSpan('queue.enqueue', { kind: SpanKind.PRODUCER, attributes: { 'messaging.operation.type': 'send', 'gptql.generation.id': job.generationId } }, async () => {
      // Taken inside the enqueue span: the worker's job span is its child.
      const trace = traceCarrier();
      await this.deps.queue.enqueue(trace ? { ...job, trace: trace as GenerationJob['trace'] } : job);
    });
    return meta;
  }

  /**
   * The models served now, and the one asked for, which must be one of them: a job for a model no
   * worker serves would wait for ever, so it is refused here, naming the ones that are served.
   */
  private async checkModel(requested: string | null | undefined): Promise<ModelChoice> {
    const served = (await this.deps.models.list()).map((model) => model.name);
    if (requested != null && !served.includes(requested)) {
      const shown = JSON.stringify(requested.length > 80 ? `${requested.slice(0, 80)}…` : requested);
      const available = served.length > 0 ? `served models: ${served.join(', ')}` : 'no worker serves a model at the moment';
      throw badInput(`Model ${shown} is not served; ${available}`, { argument: 'model' });
    }
    return { served, requested: requested ?? undefined };
  }

  /** The user's token quota, then the per-minute rate limit. */
  private async limit(identity: Identity, onRateLimit?: (state: RateLimitState) => void) {
    await this.deps.quota.check(identity);
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
function checkParams(params: RequestParams | null | undefined): RequestParams {
  const given = params ?? {};
  const { model: _model, ...sampling } = given;
  resolveParams(sampling, API_DEFAULTS, ANY_VOCAB);
  return given;
}

/**
 * The model a job runs on: the one asked for, else the one kept (the conversation's) while it is
 * still served, else the default. Undefined while no worker has announced any model (API started
 * first, workers scaled to zero): the job then names none, and whichever worker takes it runs it
 * on its own default model, as it does an earlier release's jobs.
 */
function pickModel(choice: ModelChoice, kept?: string): string | undefined {
  if (choice.requested) return choice.requested;
  if (kept && choice.served.includes(kept)) return kept;
  return choice.served[0];
}
