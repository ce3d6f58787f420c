/**
 * Job queue on an Amazon SQS standard queue.
 *
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
import type { Consumer, ConsumeOptions, GenerationJob, JobHandler, JobQueue, QueueOptions } from './queue.ts';
import {
  Slots,
  checkConcurrency,
  checkQueueOptions,
  pause,
  runDelivery,
  silentLogger,
  type QueueLogger,
} from './queue-runtime.ts';

export interface SqsQueueOptions extends QueueOptions {
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

  async enqueue(job: GenerationJob): Promise<void> {
    if (this.#closed) throw new Error('queue is closed');
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: encodeBody(job) }));
  }

  consume(handler: JobHandler, options: ConsumeOptions): Consumer {
    checkConcurrency(options.concurrency);
    if (this.#closed) throw new Error('queue is closed');
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

  async depth(): Promise<number> {
    const { Attributes } = await this.client.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    if (this.#ownsClient) this.client.destroy();
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle }));
  }

  async setVisibility(receiptHandle: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }),
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
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#slots.wake();
    // The poll in progress is not aborted: SQS may already have handed it messages, which an
    // aborted request would lose until their visibility ran out. #receive releases them instead.
    await this.#loop;
    await Promise.all(this.#running);
  }

  async #run(): Promise<void> {
    const signal = this.#stopped.signal;
    while (!signal.aborted) {
      await this.#slots.whenFree();
      if (signal.aborted) break;
      try {
        await this.#receive();
      } catch (error) {
        if (signal.aborted) break;
        this.settings.logger.warn({ err: error, consumer: this.options.consumerName }, 'queue receive failed; retrying');
        await pause(RETRY_DELAY_MS, signal);
      }
    }
  }

  async #receive(): Promise<void> {
    const { Messages = [] } = await this.queue.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queue.queueUrl,
        MaxNumberOfMessages: Math.min(MAX_RECEIVE, this.#slots.free),
        WaitTimeSeconds: this.settings.waitTimeSeconds,
        VisibilityTimeout: this.queue.visibilitySeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    for (const message of Messages) {
      if (message.ReceiptHandle === undefined) continue;
      if (this.#stopped.signal.aborted) {
        // Visible again at once for the other workers, rather than after the visibility timeout.
        await this.queue.setVisibility(message.ReceiptHandle, 0).catch(() => undefined);
        continue;
      }
      await this.#handle(message, message.ReceiptHandle);
    }
  }

  async #handle(message: Message, receiptHandle: string): Promise<void> {
    const attempt = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
    const { logger, deadLetterQueueUrl, maxDeliveries } = this.settings;
    if (deadLetterQueueUrl && attempt > maxDeliveries) return this.#deadLetter(message, receiptHandle, attempt);
    let job: GenerationJob;
    try {
      job = parseJob(message.Body ?? '');
    } catch (error) {
      logger.error({ err: error, messageId: message.MessageId }, 'unreadable generation job dead-lettered');
      // Without a dead-letter queue of ours, the redrive policy moves it after maxDeliveries receives.
      return this.#deadLetter(message, receiptHandle, attempt);
    }
    this.#slots.take();
    const run = runDelivery({
      handler: this.handler,
      job,
      attempt,
      logger,
      visibilityTimeoutMs: this.settings.visibilityTimeoutMs,
      ack: () => this.queue.delete(receiptHandle),
      heartbeat: () => this.queue.setVisibility(receiptHandle, this.queue.visibilitySeconds),
    }).finally(() => {
      this.#running.delete(run);
      this.#slots.release();
    });
    this.#running.add(run);
  }

  /** Moves the message to our dead-letter queue when one is given; otherwise the redrive policy will. */
  async #deadLetter(message: Message, receiptHandle: string, attempt: number): Promise<void> {
    const { deadLetterQueueUrl, logger } = this.settings;
    if (!deadLetterQueueUrl) return;
    // Sent before the delete: a crash in between duplicates the dead letter rather than losing the job.
    await this.queue.client.send(new SendMessageCommand({ QueueUrl: deadLetterQueueUrl, MessageBody: message.Body ?? '' }));
    await this.queue.delete(receiptHandle);
    logger.warn({ messageId: message.MessageId, attempt }, 'generation job dead-lettered');
  }
}
