/**
 * Job queue on Amazon SQS standard queues, one per model.
 *
 * - A job goes to its model's queue (`modelQueueUrl`: the configured queue's name with
 *   `-<model>`); jobs that name no model (an earlier release's) to the configured queue itself. A
 *   consumer polls the queues of the models it serves, so a job never reaches a worker without its
 *   model. The queues are the operator's to create (Terraform does), like the tables.
 * - Long polling (`WaitTimeSeconds`) with at most as many messages as the consumer has free slots.
 * - The adapter's visibility timeout is sent with every receive, so it wins over the queue's own.
 *   SQS counts it in whole seconds: the timeout is rounded up.
 * - `ApproximateReceiveCount` is the delivery attempt. Dead-lettering is the queue's job: give it a
 *   RedrivePolicy `{ deadLetterTargetArn, maxReceiveCount: maxDeliveries }`, and SQS moves a
 *   message there instead of delivering it a (maxDeliveries + 1)th time. Where a queue has no
 *   redrive policy, pass `deadLetterQueueUrl` and the adapter does the same move itself.
 * - A handler still running extends its message's visibility with ChangeMessageVisibility.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  SendMessageCommand,
  type Message,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { encodeJob, parseJob } from './job.ts';
import { modelQueueUrl } from './names.ts';
import type { Consumer, ConsumeOptions, GenerationJob, JobHandler, JobQueue, QueueOptions } from './queue.ts';
import {
  Slots,
  checkConsumeOptions,
  checkQueueOptions,
  modelOf,
  pause,
  runDelivery,
  silentLogger,
  type QueueLogger,
} from './queue-runtime.ts';

export interface SqsQueueOptions extends QueueOptions {
  /** The queue of jobs that name no model; each model's queue is named after it (`modelQueueUrl`). */
  queueUrl: string;
  /** A client the caller owns (left open on close), or the config for one the queue creates and destroys. */
  client?: SQSClient | SQSClientConfig;
  /** Only for queues without a RedrivePolicy: where the adapter moves a job past maxDeliveries. */
  deadLetterQueueUrl?: string;
  /** Long-poll time, 0–20 s (default 20). A stopping consumer waits for its poll to return. */
  waitTimeSeconds?: number;
  logger?: QueueLogger;
}

const RETRY_DELAY_MS = 1_000;
/** SQS's cap on messages per receive. */
const MAX_RECEIVE = 10;

export class SqsJobQueue implements JobQueue {
  readonly kind = 'sqs' as const;
  readonly queueUrl: string;
  readonly client: SQSClient;
  readonly #ownsClient: boolean;
  readonly #options: QueueOptions;
  readonly #deadLetterQueueUrl: string | undefined;
  readonly #waitTimeSeconds: number;
  readonly #logger: QueueLogger;
  readonly #stops = new Set<() => Promise<void>>();
  /** Models whose queues this process has sent to or polls: what `depth()` can add up. */
  readonly #models = new Set<string>();
  #closed = false;

  constructor(options: SqsQueueOptions) {
    checkQueueOptions(options);
    const waitTimeSeconds = options.waitTimeSeconds ?? 20;
    if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20) {
      throw new RangeError('waitTimeSeconds must be an integer from 0 to 20');
    }
    this.queueUrl = options.queueUrl;
    this.#ownsClient = !(options.client instanceof SQSClient);
    this.client = options.client instanceof SQSClient ? options.client : new SQSClient(options.client ?? {});
    this.#options = { visibilityTimeoutMs: options.visibilityTimeoutMs, maxDeliveries: options.maxDeliveries };
    this.#deadLetterQueueUrl = options.deadLetterQueueUrl;
    this.#waitTimeSeconds = waitTimeSeconds;
    this.#logger = options.logger ?? silentLogger;
  }

  /** The visibility timeout as SQS takes it: whole seconds, at least 1. */
  get visibilitySeconds(): number {
    return Math.max(1, Math.ceil(this.#options.visibilityTimeoutMs / 1000));
  }

  /** The queue of `model`'s jobs; the configured queue for jobs that name no model. */
  queueUrlFor(model: string | null | undefined): string {
    return model == null ? this.queueUrl : modelQueueUrl(this.queueUrl, model);
  }

  async enqueue(job: GenerationJob): Promise<void> {
    if (this.#closed) throw new Error('queue is closed');
    const model = modelOf(job);
    if (model !== undefined) this.#models.add(model);
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrlFor(model), MessageBody: encodeBody(job) }));
  }

  consume(handler: JobHandler, options: ConsumeOptions): Consumer {
    checkConsumeOptions(options);
    if (this.#closed) throw new Error('queue is closed');
    for (const model of options.models) this.#models.add(model);
    const consumer = new SqsConsumer(this, handler, options, {
      ...this.#options,
      waitTimeSeconds: this.#waitTimeSeconds,
      deadLetterQueueUrl: this.#deadLetterQueueUrl,
      logger: this.#logger,
    });
    const stop = async () => {
      await consumer.stop();
      this.#stops.delete(stop);
    };
    this.#stops.add(stop);
    return { stop };
  }

  async depth(model?: string | null): Promise<number> {
    if (model !== undefined) return this.#queueDepth(this.queueUrlFor(model));
    const depths = await Promise.all([null, ...this.#models].map((line) => this.#queueDepth(this.queueUrlFor(line))));
    return depths.reduce((sum, depth) => sum + depth, 0);
  }

  async #queueDepth(queueUrl: string): Promise<number> {
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    if (this.#ownsClient) this.client.destroy();
  }

  async delete(queueUrl: string, receiptHandle: string): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
  }

  async setVisibility(queueUrl: string, receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }),
    );
  }
}

/**
 * JSON with characters beyond the Basic Multilingual Plane (emoji…) written as \uXXXX escape
 * pairs. SQS's documented character set allows them, but SQS-compatible servers (fauxqs among
 * them) reject them; escaped, the body is the same JSON everywhere.
 */
export function encodeBody(job: GenerationJob): string {
  return encodeJob(job).replace(/[\u{10000}-\u{10FFFF}]/gu, (char) =>
    Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

interface SqsConsumerSettings extends QueueOptions {
  waitTimeSeconds: number;
  deadLetterQueueUrl: string | undefined;
  logger: QueueLogger;
}

/**
 * Polls each of its queues in a loop of its own; the loops share the consumer's slots. A long poll
 * holds the slots it asks for until it returns (up to 20 s), so with several queues a queue that
 * had nothing asks for one message at a time, and the busy ones for the rest.
 */
class SqsConsumer {
  readonly #slots: Slots;
  readonly #running = new Set<Promise<void>>();
  readonly #stopped = new AbortController();
  readonly #loop: Promise<void>;

  constructor(
    private readonly queue: SqsJobQueue,
    private readonly handler: JobHandler,
    private readonly options: ConsumeOptions,
    private readonly settings: SqsConsumerSettings,
  ) {
    this.#slots = new Slots(options.concurrency);
    const lines = [...new Set<string | null>([...options.models, ...(options.unnamed ? [null] : [])])];
    const urls = lines.map((line) => queue.queueUrlFor(line));
    this.#loop = Promise.all(urls.map((url) => this.#run(url, urls.length > 1))).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#slots.wake();
    // The polls in progress are not aborted: SQS may already have handed them messages, which an
    // aborted request would lose until their visibility ran out. #receive releases them instead.
    await this.#loop;
    await Promise.all(this.#running);
  }

  async #run(queueUrl: string, shared: boolean): Promise<void> {
    const signal = this.#stopped.signal;
    let idle = true;
    while (!signal.aborted) {
      await this.#slots.whenFree();
      // Another queue's loop may have taken the slot that woke this one.
      if (signal.aborted || this.#slots.free <= 0) continue;
      const wanted = Math.min(MAX_RECEIVE, shared && idle ? 1 : this.#slots.free);
      // Held for the poll: what it brings is started at once, in these slots.
      this.#slots.take(wanted);
      let started = 0;
      try {
        const received = await this.#receive(queueUrl, wanted);
        started = received.started;
        idle = received.count === 0;
      } catch (error) {
        if (signal.aborted) break;
        this.settings.logger.warn({ err: error, consumer: this.options.consumerName, queueUrl }, 'queue receive failed; retrying');
        await pause(RETRY_DELAY_MS, signal);
      } finally {
        this.#slots.release(wanted - started);
      }
    }
  }

  /** One receive of up to `wanted` messages; each started handler keeps one of the slots held for it. */
  async #receive(queueUrl: string, wanted: number): Promise<{ count: number; started: number }> {
    const { Messages = [] } = await this.queue.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: wanted,
        WaitTimeSeconds: this.settings.waitTimeSeconds,
        VisibilityTimeout: this.queue.visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    let started = 0;
    for (const message of Messages) {
      if (message.ReceiptHandle === undefined) continue;
      if (this.#stopped.signal.aborted) {
        // Visible again at once for the other workers, rather than after the visibility timeout.
        await this.queue.setVisibility(queueUrl, message.ReceiptHandle, 0).catch(() => undefined);
        continue;
      }
      if (await this.#handle(queueUrl, message, message.ReceiptHandle)) started += 1;
    }
    return { count: Messages.length, started };
  }

  /** Starts the handler for one message (true), or dead-letters it (false). */
  async #handle(queueUrl: string, message: Message, receiptHandle: string): Promise<boolean> {
    const attempt = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
    const { logger, deadLetterQueueUrl, maxDeliveries } = this.settings;
    if (deadLetterQueueUrl && attempt > maxDeliveries) {
      await this.#deadLetter(queueUrl, message, receiptHandle, attempt);
      return false;
    }
    let job: GenerationJob;
    try {
      job = parseJob(message.Body ?? '');
    } catch (error) {
      logger.error({ err: error, messageId: message.MessageId }, 'unreadable generation job dead-lettered');
      // Without a dead-letter queue of ours, the redrive policy moves it after maxDeliveries receives.
      await this.#deadLetter(queueUrl, message, receiptHandle, attempt);
      return false;
    }
    const run = runDelivery({
      handler: this.handler,
      job,
      attempt,
      logger,
      visibilityTimeoutMs: this.settings.visibilityTimeoutMs,
      ack: () => this.queue.delete(queueUrl, receiptHandle),
      heartbeat: () => this.queue.setVisibility(queueUrl, receiptHandle, this.queue.visibilitySeconds),
    }).finally(() => {
      this.#running.delete(run);
      this.#slots.release();
    });
    this.#running.add(run);
    return true;
  }

  /** Moves the message to our dead-letter queue when one is given; otherwise the redrive policy will. */
  async #deadLetter(queueUrl: string, message: Message, receiptHandle: string, attempt: number): Promise<void> {
    const { deadLetterQueueUrl, logger } = this.settings;
    if (!deadLetterQueueUrl) return;
    // Sent before the delete: a crash in between duplicates the dead letter rather than losing the job.
    await this.queue.client.send(new SendMessageCommand({ QueueUrl: deadLetterQueueUrl, MessageBody: message.Body ?? '' }));
    await this.queue.delete(queueUrl, receiptHandle);
    logger.warn({ messageId: message.MessageId, attempt, queueUrl }, 'generation job dead-lettered');
  }
}
