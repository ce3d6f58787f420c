/**
 * Generation state shared by API and worker processes: metadata (owner, status), the event log
 * that late or reconnecting subscribers replay from, live delivery, and cancellation requests.
 * Redis in production (graphql-redis-subscriptions for live events, a list per generation for
 * replay, both with a TTL); in-process when embedded. Same interface, same contract tests.
 */
import type { GenerationMeta, GenerationStatus, StreamEvent } from './events.ts';

export interface StreamStore {
  create(meta: GenerationMeta): Promise<void>;
  get(generationId: string): Promise<GenerationMeta | undefined>;
  setStatus(generationId: string, status: GenerationStatus): Promise<void>;
  /** Appends to the replay log, then publishes live (that order is what makes replay gap-free). */
  append(generationId: string, event: StreamEvent): Promise<void>;
  history(generationId: string): Promise<StreamEvent[]>;
  /** Every event with index > after, each once and in order: replayed, then live, until the last one. */
  subscribe(generationId: string, after: number): AsyncIterable<StreamEvent>;
  requestCancel(generationId: string): Promise<void>;
  isCancelRequested(generationId: string): Promise<boolean>;
  /** Calls `handler` with the id of every generation whose cancellation is requested from now on. */
  onCancel(handler: (generationId: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Merges a replayed log with live events that may overlap it or arrive while it is being read:
 * only events beyond the last one yielded get through, so there is no duplicate and no gap.
 */
export class ReplayMerger {
  private last: number;
  private done = false;

  constructor(after: number) {
    this.last = after;
  }

  get finished(): boolean {
    return this.done;
  }

  /** The events of `batch` to deliver now, in order. */
  accept(batch: readonly StreamEvent[]): StreamEvent[] {
    const out: StreamEvent[] = [];
    for (const event of [...batch].sort((a, b) => a.index - b.index)) {
      if (this.done || event.index <= this.last) continue;
      // A gap means an event is still on its way through the other path: wait for it.
      if (event.index !== this.last + 1) break;
      out.push(event);
      this.last = event.index;
      if (event.kind !== 'token') this.done = true;
    }
    return out;
  }
}
