/**
 * The generation job queue: one interface, three adapters (in-process, Redis Streams, SQS).
 * Jobs wait per model (`job.params.model`) and go only to consumers serving that model; jobs
 * that name no model (enqueued by an earlier release) wait apart and go to the consumers that
 * take them (`ConsumeOptions.unnamed`), which run them on their default model.
 * Delivery is at-least-once: a job whose handler has not acknowledged it within the visibility
 * timeout (its worker died, say) is delivered again, possibly to another worker. The worker
 * makes that exactly-once in effect (the reply is persisted with a conditional write).
 */

import type { GenerationJob } from './job.ts';

export type { GenerationJob } from './job.ts';

export interface DeliveredJob {
  job: GenerationJob;
  /** How many times this job has been delivered, this time included (1 on first delivery). */
  attempt: number;
  /**
   * How long the job stays this handler's without a heartbeat; the queue beats several times
   * within it while the handler runs. Whatever the handler holds for the job (its generation's
   * lease) should lapse with it, as the job then goes to another worker.
   */
  visibilityTimeoutMs: number;
  /** Marks the job done: it will not be delivered again. */
  ack(): Promise<void>;
}

export type JobHandler = (delivery: DeliveredJob) => Promise<void>;

export interface ConsumeOptions {
  /** Jobs this consumer handles at once. */
  concurrency: number;
  /** Stable name of this consumer (e.g. host/pid), for Redis consumer groups and logs. */
  consumerName: string;
  /** The models whose jobs this consumer takes: no job for another model ever reaches it. */
  models: readonly string[];
  /**
   * Also take the jobs that name no model (an earlier release's, or the API's while it knew of
   * no worker); the handler runs them on its default model. One consumer per worker asks for them.
   */
  unnamed?: boolean;
}

export interface Consumer {
  /** Stops taking new jobs and waits for the handlers in flight. */
  stop(): Promise<void>;
}

export interface JobQueue {
  readonly kind: 'memory' | 'redis' | 'sqs';
  enqueue(job: GenerationJob): Promise<void>;
  consume(handler: JobHandler, options: ConsumeOptions): Consumer;
  /**
   * Jobs waiting (not yet delivered), for metrics and autoscaling; approximate where the backend
   * is. For `model`; for jobs naming no model with `null`; with no argument, all of them (SQS:
   * those in the queues this process has used, as it cannot list the others).
   */
  depth(model?: string | null): Promise<number>;
  close(): Promise<void>;
}

export interface QueueOptions {
  /** A delivered job not acknowledged within this time is delivered again. */
  visibilityTimeoutMs: number;
  /** Deliveries after which a job goes to the dead-letter store instead (Redis: a `:dead` stream; SQS: the queue's redrive policy). */
  maxDeliveries: number;
}
