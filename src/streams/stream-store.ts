/**
 * Generation state shared by API and worker processes: metadata (owner, status), the event log
 * that late or reconnecting subscribers replay from, live delivery, and cancellation requests.
 * Redis in production (graphql-redis-subscriptions for live events, a list per generation for
 * replay, both with a TTL); in-process when embedded. Same interface, same contract tests.
 *
 * A generation has one writer at a time: the holder of its lease. The queue may hand a job to a
 * second worker while the first still runs it (the first was starved past the visibility
 * timeout), so every write carries the writer's fencing token, and the store refuses a token
 * that no longer holds the lease: the first worker can then add nothing to what the second
 * resumes from.
 */
import { FixedBuffer } from '@repeaterjs/repeater';
import { isTerminal, type GenerationMeta, type GenerationStatus, type StreamEvent } from './events.ts';

export interface StreamStore {
  create(meta: GenerationMeta): Promise<void>;
  get(generationId: string): Promise<GenerationMeta | undefined>;
  /**
   * Makes `owner` the generation's writer for `ttlMs` and returns its fencing token, greater than
   * any token given before for this generation. An earlier holder is fenced out at once, even if
   * its lease has not run out: the caller has been given the job, so the earlier holder lost it.
   */
  claim(generationId: string, owner: string, ttlMs: number): Promise<number>;
  /** Extends the lease to `ttlMs` from now; false when `token` no longer holds it (claimed since, or lapsed). */
  renew(generationId: string, token: number, ttlMs: number): Promise<boolean>;
  /** Throws LeaseLostError, changing nothing, unless `token` holds the lease. */
  setStatus(generationId: string, token: number, status: GenerationStatus): Promise<void>;
  /**
   * Appends to the replay log, then publishes live (that order is what makes replay gap-free).
   * Throws LeaseLostError, appending nothing, unless `token` holds the lease.
   */
  append(generationId: string, token: number, event: StreamEvent): Promise<void>;
  history(generationId: string): Promise<StreamEvent[]>;
  /** Every event with index > after, each once and in order: replayed, then live, until the last one. */
  subscribe(generationId: string, after: number): AsyncIterable<StreamEvent>;
  requestCancel(generationId: string): Promise<void>;
  isCancelRequested(generationId: string): Promise<boolean>;
  /** Calls `handler` with the id of every generation whose cancellation is requested from now on. */
  onCancel(handler: (generationId: string) => void): Promise<() => Promise<void>>;
  /** Subscriptions listening for live events in this process now (`api_subscriptions_active`). */
  activeSubscriptions(): number;
  close(): Promise<void>;
}

/** A write refused because the writer's lease has passed to another writer or lapsed. */
export class LeaseLostError extends Error {
  constructor(
    readonly generationId: string,
    /** The lease's holder now, when there is one. */
    readonly holder?: string,
  ) {
    super(`generation ${generationId} is no longer leased to this writer${holder ? ` (now: ${holder})` : ''}`);
    this.name = 'LeaseLostError';
  }
}

/**
 * The buffer of a subscription's Repeater. Without one, Repeater refuses a 1,025th event waiting
 * for its reader, and one generation can have more: a long reply replayed at once, or a client
 * that reads slowly. A generation's events are bounded (its maxTokens + 1), so this buffer is too.
 */
export const subscriptionBuffer = () => new FixedBuffer(Infinity);

/**
 * Merges a replayed log with live events that may overlap it or arrive while it is being read:
 * only events beyond the last one yielded get through, so there is no duplicate and no gap.
 * Events past a gap wait here until the gap is filled.
 */
export class ReplayMerger {
  private last: number;
  private done = false;
  private readonly early = new Map<number, StreamEvent>();

  constructor(private readonly after: number) {
    this.last = after;
  }

  get finished(): boolean {
    return this.done;
  }

  /**
   * Events are held past a gap. Live delivery leaves one only when a published event was missed
   * (or, from writers that append and publish in two steps, died between them): the log has
   * it, so read the log again.
   */
  get waitingForGap(): boolean {
    return !this.done && this.early.size > 0;
  }

  /** The events of `batch` (and any held ones) to deliver now, in order. */
  accept(batch: readonly StreamEvent[]): StreamEvent[] {
    for (const event of batch) {
      if (event.index > this.last) this.early.set(event.index, event);
      // A client resuming a finished generation from its end: nothing follows a terminal event,
      // so no event beyond `after` would ever come to finish the stream.
      else if (event.index <= this.after && isTerminal(event)) this.done = true;
    }
    const out: StreamEvent[] = [];
    for (let next = this.early.get(this.last + 1); next && !this.done; next = this.early.get(this.last + 1)) {
      this.early.delete(next.index);
      out.push(next);
      this.last = next.index;
      if (isTerminal(next)) this.done = true;
    }
    if (this.done) this.early.clear();
    return out;
  }
}
