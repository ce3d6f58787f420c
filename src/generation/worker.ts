/**
 * The worker role's loop: takes generation jobs from the queue, runs each on the engine of its
 * model, publishes every event to the stream store, stores the reply once, and acknowledges the job.
 *
 * Redelivery (a worker died, a job timed out) is expected: a job whose stream already ended is
 * just acknowledged, and one that had started goes on from the text already streamed, so that
 * subscribers see one continuous reply and the conversation gets exactly one message.
 */
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../errors.ts';
import type { GenerationEngine } from './engine.ts';
import type { ChatMessage, PromptInput } from '../inference/prompt.ts';
import type { DoneEvent, FinishReason, TokenLogprob, Usage } from '../inference/protocol.ts';
import type { ConversationService } from '../conversations/service.ts';
import type { MessageRecord, MessageRepository } from '../store/messages.ts';
import type { FileService } from '../files/service.ts';
import { isTextType } from '../files/sniff.ts';
import { attachmentBlock, branchMessages, branchRecords, type AttachedFile } from './conversation-context.ts';
import { isTerminal, type StreamEvent } from '../streams/events.ts';
import { holdLease, type HeldLease } from '../streams/held-lease.ts';
import type { ConversationReplyJob, GenerationJob, StreamedJob } from '../queue/job.ts';
import { TitleWriter, titleJob } from './titles.ts';
import type { Consumer, DeliveredJob, JobQueue } from '../queue/queue.ts';
import { cacheKey, isDeterministic, type ResponseCache } from './response-cache.ts';
import { LeaseLostError, type StreamStore } from '../streams/stream-store.ts';
import type { UsageLedger } from '../usage/ledger.ts';
import { trace } from '@opentelemetry/api';
import { contextFrom, failSpan, inSpan, SpanKind } from '../observability/tracing.ts';
import { recordGenerationPhases } from './job-tracing.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';

/** Why a running generation's engine was stopped at shutdown: not a cancellation, so nothing ends it. */
const HAND_BACK = Symbol('hand back');
class HandedBack extends Error {}

/** Timings of a reply no model produced here: answered from the cache, or already stored. */
const NO_TIMINGS = { queueSeconds: 0, timeToFirstTokenSeconds: 0, tokensPerSecond: 0 };

export interface WorkerDeps {
  /** One engine per model served, by name; the first is the default model (jobs that name none). */
  engines: ReadonlyMap<string, GenerationEngine>;
  queue: JobQueue;
  streams: StreamStore;
  cache: ResponseCache;
  messages: MessageRepository;
  conversations: ConversationService;
  /** Where each generation's usage is recorded, once, before its end is streamed. */
  ledger: Pick<UsageLedger, 'record'>;
  /** Attached files are read for the model's context; within `fileContextMaxChars` per message. */
  files?: Pick<FileService, 'existing' | 'readText'>;
  fileContextMaxChars?: number;
  logger: Logger;
  onCacheLookup?: (hit: boolean) => void;
  /** Each generation this worker ended, by model and how. */
  onGenerationEnded?: (model: string, outcome: 'completed' | 'cancelled' | 'failed') => void;
  consumerName: string;
  /** Jobs in hand at once, per model: each engine has its own batch and queue to fill. */
  concurrency: number;
  /**
   * The queue's QUEUE_MAX_DELIVERIES: a job that meets an unavailable dependency is left for
   * redelivery, except on its last delivery, where its failure is reported instead of the queue
   * dead-lettering it unseen.
   */
  maxDeliveries: number;
}

export class GenerationWorker {
  private consumers: Consumer[] = [];
  private stopCancelListener: (() => Promise<void>) | undefined;
  private readonly running = new Map<string, AbortController>();
  private readonly defaultModel: string;
  private readonly titles: TitleWriter;

  constructor(private readonly deps: WorkerDeps) {
    const first = deps.engines.keys().next();
    if (first.done) throw new Error('a generation worker needs at least one engine');
    this.defaultModel = first.value;
    this.titles = new TitleWriter({ conversations: deps.conversations, ledger: deps.ledger, logger: deps.logger });
  }

  /**
   * One consumer per model, so that a backlog of one model's jobs never takes the slots of
   * another's engine; the default model's consumer also takes the jobs that name no model.
   */
  async start(): Promise<void> {
    this.stopCancelListener = await this.deps.streams.onCancel((id) => this.running.get(id)?.abort());
    this.consumers = [...this.deps.engines.keys()].map((model) =>
      this.deps.queue.consume((delivery) => this.handle(delivery), {
        concurrency: this.deps.concurrency,
        consumerName: this.deps.consumerName,
        models: [model],
        unnamed: model === this.defaultModel,
      }),
    );
  }

  /**
   * Stops taking jobs and lets the running ones finish, for at most `drainMs` (WORKER_DRAIN_SECONDS);
   * then hands back those still running: their engines stop, nothing is stored or acknowledged,
   * and another worker takes each job once its visibility lapses, going on from the text
   * already streamed (the lease and the history make that exact).
   */
  async stop(drainMs = Infinity): Promise<void> {
    const stopped = Promise.all(this.consumers.map((consumer) => consumer.stop()));
    const timer = Number.isFinite(drainMs) ? setTimeout(() => this.handBack(), drainMs) : undefined;
    await stopped;
    clearTimeout(timer);
    await this.stopCancelListener?.();
  }

  private handBack(): void {
    if (this.running.size === 0) return;
    this.deps.logger.warn({ consumer: this.deps.consumerName, generations: [...this.running.keys()] }, 'drain time is up: handing the running generations back to the queue');
    for (const controller of this.running.values()) controller.abort(HAND_BACK);
  }

  /** The engine a job runs on: its model's, the default model's for a job that names none. */
  private engineFor(job: GenerationJob): GenerationEngine {
    const model = job.params.model ?? this.defaultModel;
    const engine = this.deps.engines.get(model);
    // The queue routes by model, so only a misrouted job gets here; it fails rather than run on another model.
    if (!engine) throw new AppError(ErrorCode.BAD_USER_INPUT, `Model "${model}" is not served by this worker`, { argument: 'model' });
    return engine;
  }

  private async handle(delivery: DeliveredJob): Promise<void> {
    const { job, ack } = delivery;
    if (job.kind !== 'title') {
      // The job's span: a child of the enqueuing request's, whichever process that was.
      const attributes = { 'gptql.generation.id': job.generationId, 'gptql.job.kind': job.kind, 'gptql.model': job.params.model ?? this.defaultModel, 'gptql.job.attempt': delivery.attempt };
      return inSpan('generation.job', { kind: SpanKind.CONSUMER, parent: contextFrom(job.trace), attributes }, () => this.handleStreamed({ ...delivery, job }));
    }
    // Nothing streams and nothing is stored twice (the title is set only while automatic): a
    // failure is logged and the conversation keeps its first words.
    try {
      await this.titles.write(job, this.engineFor(job));
    } catch (error) {
      this.deps.logger.warn({ err: error, conversationId: job.conversationId }, 'title not written');
    }
    await ack();
  }

  private async handleStreamed({ job, attempt, ack, visibilityTimeoutMs }: DeliveredJob & { job: StreamedJob }): Promise<void> {
    const { streams, logger } = this.deps;
    const id = job.generationId;
    // Redelivered to this same worker while it still runs it (a heartbeat came late): the
    // running copy will finish and acknowledge; a second one would stream the reply twice.
    if (this.running.has(id)) return;
    const controller = new AbortController();
    this.running.set(id, controller);
    let lease: HeldLease | undefined;
    try {
      // Claimed before the log is read: what an earlier holder appended is in it, and from now
      // on that holder can append nothing. The lease lapses with the job's visibility, since the
      // job then goes to another worker.
      lease = await holdLease({
        store: streams,
        generationId: id,
        owner: this.deps.consumerName,
        ttlMs: visibilityTimeoutMs,
        onRenewError: (error) => logger.warn({ err: error, generationId: id }, 'could not renew the generation lease'),
      });
      lease.lost.addEventListener('abort', () => controller.abort(), { once: true });
      const history = await streams.history(id);
      if (history.some(isTerminal)) return await ack(); // finished before; its ack was lost
      if (attempt > 1) logger.warn({ generationId: id, attempt, streamed: history.length }, 'resuming a redelivered generation');
      if (await streams.isCancelRequested(id)) controller.abort();
      await streams.setStatus(id, lease.token, 'RUNNING');
      await this.run(job, history, lease, controller.signal);
      await ack();
    } catch (error) {
      // Handed back at shutdown: left unacknowledged for another worker, its lease released below.
      if (error instanceof HandedBack) return;
      // Not even claimed (the store is unreachable): left unacknowledged, to come back later.
      if (!lease) throw error;
      if (lease.lost.aborted || error instanceof LeaseLostError) return this.stepAside(id, attempt, error);
      if (isDependencyUnavailable(error) && attempt < this.deps.maxDeliveries) {
        // A worker starved past the visibility timeout sees its own commands time out too: if
        // another worker holds the generation now, that is what happened.
        const lost = await lease.confirm().then(
          () => undefined,
          (failure: unknown) => (failure instanceof LeaseLostError ? failure : undefined),
        );
        return lost ? this.stepAside(id, attempt, lost) : this.leaveForRedelivery(id, attempt, error);
      }
      try {
        await this.fail(id, lease.token, error);
        this.deps.onGenerationEnded?.(job.params.model ?? this.defaultModel, 'failed');
      } catch (failure) {
        if (failure instanceof LeaseLostError) return this.stepAside(id, attempt, failure);
        throw failure;
      }
      await ack();
    } finally {
      lease?.release();
      this.running.delete(id);
    }
  }

  /** Streams the failure as the generation's last event. */
  private async fail(id: string, token: number, error: unknown): Promise<void> {
    const { streams, logger } = this.deps;
    const unavailable = isDependencyUnavailable(error);
    const code = error instanceof AppError ? error.code : unavailable ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL;
    const message = error instanceof AppError ? error.message : unavailable ? 'A service the generation needs stayed unavailable; try again' : 'Generation failed';
    if (!(error instanceof AppError)) logger.error({ err: error, generationId: id }, 'generation failed');
    const span = trace.getActiveSpan();
    if (span) failSpan(span, error);
    const index = (await streams.history(id)).length + 1;
    await streams.append(id, token, { kind: 'failed', index, code, message });
    await streams.setStatus(id, token, 'FAILED');
  }

  /**
   * Another worker has the generation now (this one was starved past the visibility timeout and
   * the job was delivered again): it goes on from the events already streamed, and stores the
   * reply. The job is not acknowledged: its delivery is the other worker's, and an ack from here
   * could settle it under that worker.
   */
  private stepAside(id: string, attempt: number, error: unknown): void {
    const holder = error instanceof LeaseLostError ? error.holder : undefined;
    this.deps.logger.warn({ generationId: id, attempt, holder }, 'lost the generation to another worker; stopping');
  }

  /**
   * Redis, DynamoDB or S3 failed under the job (a token not streamed, the reply not stored): not
   * the generation's fault, so it is neither reported failed nor acknowledged. Once the
   * visibility lapses, a worker takes it again and goes on from what was streamed, as after a
   * crash; a reply already stored is found and not stored twice.
   */
  private leaveForRedelivery(id: string, attempt: number, error: unknown): void {
    this.deps.logger.warn({ err: error, generationId: id, attempt }, 'a dependency is unavailable: generation left for redelivery');
  }

  private async run(job: StreamedJob, history: StreamEvent[], lease: HeldLease, signal: AbortSignal) {
    const { streams, cache } = this.deps;
    const engine = this.engineFor(job);
    const id = job.generationId;
    // The model is the engine's; what is left are the sampling settings.
    const { model: _model, ...params } = job.params;
    // A worker that died after storing the reply but before streaming its end: the stored reply
    // is the generation's result, and it matches what was streamed (stored after the last token).
    const stored = job.kind === 'conversation-reply' && history.length > 0 ? await this.deps.messages.get(job.conversationId, job.replyMessageId) : undefined;
    if (stored) {
      const model = stored.model ?? engine.model.name;
      // That worker may have stored the reply and then failed to update the conversation
      // (DynamoDB went away between the two writes): done here, once (the update is idempotent).
      await this.conversationUpdatedFor(job as ConversationReplyJob, model);
      const finishReason = (stored.finishReason ?? 'stop') as FinishReason;
      const usage = { promptTokens: stored.promptTokens ?? 0, completionTokens: stored.completionTokens ?? 0 };
      return this.finish(job, lease, history.length, {
        messageId: stored.messageId,
        text: stored.content,
        // Recorded before the reply was stored: this finds that record and counts nothing again.
        usage: await this.deps.ledger.record(job, { model, usage, cached: false, finishReason }),
        finishReason,
        timings: stored.timings ?? NO_TIMINGS,
        model,
        cached: false,
      });
    }
    const input = job.kind === 'stateless' ? job.input : await this.conversationInput(job);
    const previous = history.map((event) => (event.kind === 'token' ? event.delta : '')).join('');
    let index = history.length;
    const deltas: string[] = [];
    const publish = async (delta: string, logprobs?: TokenLogprob[]) => {
      deltas.push(delta);
      await streams.append(id, lease.token, { kind: 'token', index: ++index, delta, ...(logprobs ? { logprobs } : {}) });
    };

    // The cache keeps text only: a request for log-probabilities is always run.
    const key = isDeterministic(params) && history.length === 0 && params.logprobs == null ? cacheKey(engine.model.name, input, params) : undefined;
    const cached = key ? await cache.get(key) : undefined;
    if (key) this.deps.onCacheLookup?.(cached !== undefined);

    let done: DoneEvent;
    if (cached) {
      for (const delta of cached.deltas) await publish(delta);
      done = { type: 'done', finishReason: cached.finishReason, usage: cached.usage, cachedPromptTokens: 0, promptTruncated: false, droppedMessages: 0, timings: NO_TIMINGS };
    } else {
      const request: PromptInput = previous ? { ...input, continuation: previous } : input;
      let final: DoneEvent | undefined;
      for await (const event of engine.generate({ input: request, params, signal })) {
        if (event.type === 'token') await publish(event.delta, event.logprobs);
        else if (event.type === 'error') {
          await this.recordFailed(job, engine.model.name, event.usage);
          throw new AppError(event.code ?? ErrorCode.INTERNAL, event.code ? event.message : `Generation failed: ${event.message}`);
        } else final = event;
      }
      done = final!;
      if (key && done.finishReason !== 'cancelled') await cache.set(key, { deltas, usage: done.usage, finishReason: done.finishReason });
    }

    if (signal.reason === HAND_BACK) throw new HandedBack();
    const text = previous + deltas.join('');
    // The message store knows nothing of leases: a worker that lost the generation (its engine
    // was stopped, so it may have no token left to be refused) must not store its partial reply.
    await lease.confirm();
    // Recorded first: the tokens were used whether or not the reply can be stored.
    const usage = await this.deps.ledger.record(job, { model: engine.model.name, usage: done.usage, cached: cached !== undefined, finishReason: done.finishReason });
    const messageId = await this.persist(job, engine.model.name, text, { ...done, usage });
    this.deps.logger.info(
      {
        generationId: id,
        consumer: this.deps.consumerName,
        model: engine.model.name,
        ...(job.kind === 'conversation-reply' ? { conversationId: job.conversationId } : {}),
        promptTokens: done.usage.promptTokens,
        cachedPromptTokens: done.cachedPromptTokens,
        completionTokens: done.usage.completionTokens,
        finishReason: done.finishReason,
        responseCache: cached !== undefined,
      },
      'generation completed',
    );
    await this.finish(job, lease, index, {
      messageId,
      text,
      usage,
      finishReason: done.finishReason,
      timings: done.timings,
      model: engine.model.name,
      cached: cached !== undefined,
    });
  }

  /**
   * A generation that failed after producing tokens still used them: they are recorded where the
   * engine knows how many. Best effort: the failure itself is what gets reported.
   */
  private async recordFailed(job: GenerationJob, model: string, usage: Usage | undefined): Promise<void> {
    if (!usage || usage.completionTokens === 0) return;
    try {
      await this.deps.ledger.record(job, { model, usage, cached: false, finishReason: 'error' });
    } catch (error) {
      this.deps.logger.warn({ err: error, generationId: job.generationId }, 'usage of a failed generation not recorded');
    }
  }

  /** Streams the generation's last event, after `lastIndex`, and its final status. */
  private async finish(job: StreamedJob, lease: HeldLease, lastIndex: number, result: Omit<Extract<StreamEvent, { kind: 'completed' }>, 'kind' | 'index'>) {
    const { streams } = this.deps;
    await streams.append(job.generationId, lease.token, { kind: 'completed', index: lastIndex + 1, ...result });
    await streams.setStatus(job.generationId, lease.token, result.finishReason === 'cancelled' ? 'CANCELLED' : 'COMPLETED');
    recordGenerationPhases(result);
    this.deps.onGenerationEnded?.(result.model, result.finishReason === 'cancelled' ? 'cancelled' : 'completed');
  }

  private async conversationInput(job: ConversationReplyJob): Promise<{ messages: ChatMessage[] }> {
    const conversation = await this.deps.conversations.own(job.userId, job.conversationId);
    const recent = await this.deps.messages.recent(conversation.conversationId);
    const attachments = await this.attachmentTexts(job.userId, branchRecords(recent, job.parentMessageId));
    const systemPrompt = await this.deps.conversations.systemPromptOf(conversation);
    return { messages: branchMessages({ ...conversation, systemPrompt }, recent, job.parentMessageId, attachments) };
  }

  /** Message id → its attached files as text for the model, each message within the budget. */
  private async attachmentTexts(userId: string, branch: readonly MessageRecord[]): Promise<Map<string, string>> {
    const { files, fileContextMaxChars = 8000 } = this.deps;
    const texts = new Map<string, string>();
    if (!files) return texts;
    for (const message of branch) {
      if (!message.fileIds?.length) continue;
      let budget = fileContextMaxChars;
      const attached: AttachedFile[] = [];
      for (const record of await files.existing(userId, message.fileIds)) {
        const read = budget > 0 ? await files.readText(record, budget) : undefined;
        if (read) budget -= read.text.length;
        // Budget spent on earlier files: this one is named, with none of its text.
        const exhausted = !read && isTextType(record.contentType);
        attached.push({
          name: record.name,
          contentType: record.contentType,
          size: record.size,
          ...(read ? { text: read.text, truncated: read.truncated } : exhausted ? { text: '', truncated: true } : {}),
        });
      }
      if (attached.length > 0) texts.set(message.messageId, attachmentBlock(attached));
    }
    return texts;
  }

  /** Stores the reply under the id fixed at enqueue time; returns it (null for stateless). */
  private async persist(job: StreamedJob, model: string, text: string, done: DoneEvent): Promise<string | null> {
    if (job.kind !== 'conversation-reply') return null;
    await this.deps.messages.putOnce({
      conversationId: job.conversationId,
      messageId: job.replyMessageId,
      userId: job.userId,
      role: 'assistant',
      content: text,
      parentId: job.parentMessageId,
      model,
      promptTokens: done.usage.promptTokens,
      completionTokens: done.usage.completionTokens,
      finishReason: done.finishReason,
      interrupted: done.finishReason === 'cancelled',
      generationId: job.generationId,
      timings: done.timings,
      createdAt: new Date().toISOString(),
    });
    // Even if it was stored already (putOnce false: by an earlier attempt of this write whose
    // answer was lost, or by an earlier delivery), which may not have got as far as this.
    await this.conversationUpdatedFor(job, model);
    return job.replyMessageId;
  }

  /**
   * The conversation learns of its stored reply: counted once, and the end of the active branch
   * if it still ends at the message answered (the user may have moved elsewhere meanwhile). Both
   * writes are idempotent, so a later delivery may do it again.
   */
  private async conversationUpdatedFor(job: ConversationReplyJob, model: string): Promise<void> {
    const { conversations, queue } = this.deps;
    const conversation = await conversations.replyAdded(job.userId, job.conversationId, job.replyMessageId, job.parentMessageId);
    // The conversation's first reply: the model titles it, in a job of its own (claimed once,
    // and only tried while the record says no title was asked for yet).
    const untitled = conversation?.titleSource === 'auto' && !conversation.titleRequestedAt;
    if (untitled && (await conversations.claimAutoTitle(job.userId, job.conversationId))) await queue.enqueue(titleJob(job, model));
  }
}
