/**
 * The worker's side of usage accounting: records each generation's usage once it ends (the
 * store makes a repeat count nothing), before its completion event is streamed, so that the
 * usage queries show it by the time a client hears the generation ended.
 */
import type { Usage } from '../inference/protocol.ts';
import { BACKGROUND_KINDS, accountingOf, type GenerationJob, type JobAccounting } from '../queue/job.ts';
import type { UsageEntry, UsageRepository } from '../store/usage.ts';
import type { UsageEvents } from './events.ts';

export interface GenerationOutcome {
  model: string;
  usage: Usage;
  /** Served from the response cache: recorded, not counted against the quota (nor are background jobs, such as titles). */
  cached: boolean;
  finishReason: string;
}

export interface UsageLedgerDeps {
  usage: Pick<UsageRepository, 'record' | 'recordOf'>;
  events: Pick<UsageEvents, 'changed'>;
  /** Called once per generation, by the recording that counted it (for metrics). */
  onCounted?: (entry: UsageEntry, accounting: JobAccounting) => void;
}

export class UsageLedger {
  constructor(private readonly deps: UsageLedgerDeps) {}

  /**
   * Records the generation's usage; returns the usage that counts, which is an earlier
   * recording's when the generation was recorded before (a redelivered job).
   */
  async record(job: GenerationJob, outcome: GenerationOutcome): Promise<Usage> {
    const accounting = accountingOf(job);
    if (outcome.usage.promptTokens + outcome.usage.completionTokens === 0) {
      // Nothing used by this run (cancelled before it started): no request is counted, unless an
      // earlier worker recorded this generation before it died, whose figures are the ones that count.
      const earlier = await this.deps.usage.recordOf(job.userId, job.generationId);
      return earlier ? this.count(job.userId, accounting, earlier) : outcome.usage;
    }
    return this.count(job.userId, accounting, {
      userId: job.userId,
      generationId: job.generationId,
      model: outcome.model,
      kind: accounting.kind,
      cached: outcome.cached,
      counted: !outcome.cached && !BACKGROUND_KINDS.has(accounting.kind),
      promptTokens: outcome.usage.promptTokens,
      completionTokens: outcome.usage.completionTokens,
      finishReason: outcome.finishReason,
      recordedAt: new Date().toISOString(),
    });
  }

  /** Records the entry (or finishes an earlier recording of it); returns the usage that counts. */
  private async count(userId: string, accounting: JobAccounting, recording: UsageEntry): Promise<Usage> {
    const { entry, counted } = await this.deps.usage.record(recording);
    if (counted) {
      this.deps.onCounted?.(entry, accounting);
      this.deps.events.changed(userId);
    }
    return { promptTokens: entry.promptTokens, completionTokens: entry.completionTokens };
  }
}
