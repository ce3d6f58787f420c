/**
 * Continuous batching. Each step: let finished and cancelled sequences leave, admit waiting
 * requests, read their prompts (alone, in chunks of PREFILL_CHUNK_TOKENS with the in-place
 * cache) and sample their first token, then run one decode step for the whole batch. Runs
 * inside the inference worker.
 *
 * Two KV cache layouts, by what the graph can do:
 * - in place (`slots`, kv-slots.ts), for graphs that return the positions each run added: each
 *   running sequence owns a row of preallocated buffers, fed as past without a copy; the new
 *   positions are written into the rows after each run, a prompt's straight into its row, and a
 *   leaver's row is refilled by the last row.
 * - copied (kv-batch.ts), for graphs whose present is a new, longer tensor (Optimum exports):
 *   rows left-padded, re-laid when the members change.
 */
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { fromHalf } from '../../model/fp16.ts';
import { IncrementalDecoder } from './detokenizer.ts';
import { KvBatch } from './kv-batch.ts';
import { distributionOf, tokenLogprob, type Distribution } from './logprobs.ts';
import type { KvSlots } from './kv-slots.ts';
import type { PrefixCache } from './prefix-cache.ts';
import type { ModelFolder } from './model-folder.ts';
import type { ResolvedParams } from './params.ts';
import { ChatTemplateRenderError, promptBudget, type PromptBuilder, type PromptInput } from './prompt.ts';
import { decodeRate, type Diagnostics, type EngineEvent, type FinishReason, type StepStats, type TokenLogprob } from './protocol.ts';
import { Sampler } from './sampler.ts';
import type { SessionIO } from './session-io.ts';
import { StopMatcher } from './stop-matcher.ts';

export interface Submission {
  id: number;
  input: PromptInput;
  params: ResolvedParams;
  enqueuedAt: number;
  /** Report prompt ids, sampled ids and prompt logits with the done event. */
  diagnostics?: boolean;
}

interface Sequence {
  id: number;
  promptTokens: number;
  promptTruncated: boolean;
  droppedMessages: number;
  maxTokens: number;
  minTokens: number;
  sampler: Sampler;
  decoder: IncrementalDecoder;
  stop: StopMatcher;
  generated: number;
  lastToken: number;
  /** Tokens in its KV cache. */
  length: number;
  /** The prompt's ids, which advancePrefills reads and the prefix cache keys its blocks by. */
  prompt: readonly number[];
  /** Prompt tokens restored from the prefix cache rather than computed. */
  cachedTokens: number;
  nextIndex: number;
  enqueuedAt: number;
  startedAt: number;
  firstTokenAt: number;
  finished?: FinishReason;
  diagnostics?: Diagnostics;
  /** Alternatives to report per token, when log-probabilities were asked for. */
  alternatives?: number;
  /** With log-probabilities asked for: the last sampled token's distribution, and the entries of tokens whose text is not out yet. */
  distribution?: Distribution;
  pendingLogprobs?: TokenLogprob[];
}

/** An admitted sequence, with its prompt's cache when the cache is copied rather than in place. */
interface Joiner {
  seq: Sequence;
  kv?: KvBatch;
}

export interface SchedulerOutput {
  started(id: number, queueSeconds: number): void;
  events(events: { id: number; event: EngineEvent }[], stats?: StepStats): void;
}

export interface SchedulerDeps {
  session: InferenceSession;
  io: SessionIO;
  model: ModelFolder;
  prompts: PromptBuilder;
  codec: { decode(ids: readonly number[]): string };
  maxBatchSize: number;
  /** The in-place cache, when the graph returns new_key_values.* (rows ≥ maxBatchSize). */
  slots?: KvSlots;
  /** Finished sequences' cache, reused by prompts that start the same way (in-place cache only). */
  prefixCache?: PrefixCache;
  /**
   * In-place cache only: prompt tokens computed per step (PREFILL_CHUNK_TOKENS), between decode
   * steps of the running batch, so that a long prompt does not stall the other streams; 0 reads
   * every admitted prompt whole before the next decode step.
   */
  prefillChunkTokens?: number;
  output: SchedulerOutput;
  now?: () => number;
}

export class Scheduler {
  private readonly waiting: Submission[] = [];
  private running: Sequence[] = [];
  /**
   * In-place cache: admitted sequences whose prompt is still being read, in admission order.
   * prefilling[i] owns row running.length + i, so the decode batch stays rows 0…n−1 and the
   * first of them joins it at the next row when its prompt is done.
   */
  private prefilling: Sequence[] = [];
  private kv: KvBatch | undefined;
  private readonly cancelled = new Set<number>();
  private pending: { id: number; event: EngineEvent }[] = [];
  private readonly now: () => number;
  private readonly eos: Set<number>;

  constructor(private readonly deps: SchedulerDeps) {
    this.now = deps.now ?? (() => performance.timeOrigin + performance.now());
    this.eos = new Set(deps.model.eosTokenIds);
  }

  get idle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0 && this.prefilling.length === 0;
  }

  submit(submission: Submission): void {
    this.waiting.push(submission);
  }

  cancel(id: number): void {
    this.cancelled.add(id);
  }

  /** One scheduling step; resolves when its events have been handed to the output. */
  async step(): Promise<void> {
    const started = this.now();
    this.dropCancelledWaiting();
    // Leavers first, so that their slots go to waiting requests in this same step.
    const leaving = this.markCancelledRunning();
    this.removeFinished();
    const joiners = await this.admit();
    const prefillChunks = this.deps.slots ? await this.advancePrefills() : 0;
    if (!this.deps.slots && (joiners.length > 0 || leaving)) this.relayCache(joiners);
    if (this.running.length > 0) {
      try {
        await this.decode();
      } catch (error) {
        // A failed step fails its batch, not the engine: the next requests start clean.
        const message = (error as Error).message;
        for (const seq of this.running) this.emit(seq.id, { type: 'error', message, usage: { promptTokens: seq.promptTokens, completionTokens: seq.generated } });
        for (const seq of this.prefilling) this.emit(seq.id, { type: 'error', message });
        this.running = [];
        this.prefilling = [];
        this.kv = undefined;
        this.kvMembers = [];
      }
    }
    this.flush({
      batchSize: this.running.length,
      running: this.running.filter((s) => !s.finished).length,
      waiting: this.waiting.length,
      stepSeconds: (this.now() - started) / 1000,
      ...(prefillChunks > 0 ? { prefillChunks } : {}),
    });
  }

  private emit(id: number, event: EngineEvent) {
    this.pending.push({ id, event });
  }

  private flush(stats: StepStats) {
    const events = this.pending;
    this.pending = [];
    const prefixCache = this.deps.prefixCache?.takeStats();
    this.deps.output.events(events, prefixCache ? { ...stats, prefixCache } : stats);
  }

  private dropCancelledWaiting() {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const submission = this.waiting[i]!;
      if (!this.cancelled.delete(submission.id)) continue;
      this.waiting.splice(i, 1);
      this.emit(submission.id, {
        type: 'done',
        finishReason: 'cancelled',
        usage: { promptTokens: 0, completionTokens: 0 },
        cachedPromptTokens: 0,
        timings: { queueSeconds: (this.now() - submission.enqueuedAt) / 1000, timeToFirstTokenSeconds: 0, tokensPerSecond: 0 },
        promptTruncated: false,
        droppedMessages: 0,
      });
    }
  }

  private markCancelledRunning(): boolean {
    let any = false;
    for (const seq of [...this.running, ...this.prefilling]) {
      if (this.cancelled.delete(seq.id)) {
        if (!seq.finished) this.finish(seq, 'cancelled');
        any = true;
      } else if (seq.finished) any = true;
    }
    return any;
  }

  /** Drops finished sequences; in place, the last row moves into each freed one so that rows stay 0…n−1. */
  private removeFinished() {
    const slots = this.deps.slots;
    if (!slots) {
      this.running = this.running.filter((seq) => !seq.finished);
      return;
    }
    const decodingRows = this.running.length;
    for (let row = 0; row < this.running.length; ) {
      const seq = this.running[row]!;
      if (!seq.finished) {
        row++;
        continue;
      }
      this.keepPrompt(seq, row);
      const last = this.running.pop()!;
      if (row < this.running.length) {
        slots.move(this.running.length, row, last.length);
        this.running[row] = last;
      }
    }
    // Cancelled while their prompt was read: their rows go too.
    this.retainPrefilling(decodingRows, (seq) => !seq.finished);
  }

  /**
   * Keeps the prefilling sequences `keep` accepts, in order, their rows moved down to follow the
   * decode rows again; `firstRow` is where prefilling[0]'s row was.
   */
  private retainPrefilling(firstRow: number, keep: (seq: Sequence) => boolean) {
    const slots = this.deps.slots!;
    let to = this.running.length;
    this.prefilling = this.prefilling.filter((seq, i) => {
      if (!keep(seq)) return false;
      if (firstRow + i !== to) slots.move(firstRow + i, to, seq.length);
      to++;
      return true;
    });
  }

  /** Starts waiting requests while the batch has room; returns those that joined with a copied cache. */
  private async admit(): Promise<Joiner[]> {
    const joiners: Joiner[] = [];
    // Started sequences are in `running` or `prefilling` already (startSequence adds them).
    while (this.waiting.length > 0 && this.running.length + this.prefilling.length < this.deps.maxBatchSize) {
      const submission = this.waiting.shift()!;
      const startedAt = this.now();
      this.deps.output.started(submission.id, (startedAt - submission.enqueuedAt) / 1000);
      try {
        const joined = await this.startSequence(submission, startedAt);
        if (joined) joiners.push(joined);
      } catch (error) {
        const refused = error instanceof ChatTemplateRenderError;
        this.emit(submission.id, { type: 'error', message: (error as Error).message, ...(refused ? { code: 'BAD_USER_INPUT' as const } : {}) });
      }
    }
    return joiners;
  }

  /**
   * Starts a sequence: with the in-place cache it takes the next row and waits in `prefilling`
   * for advancePrefills; otherwise its prompt is read now, whole, and it joins with its cache.
   */
  private async startSequence(submission: Submission, startedAt: number): Promise<Joiner | undefined> {
    const { model, prompts, io, session } = this.deps;
    const { params } = submission;
    const fitted = prompts.fit(submission.input, promptBudget(model.contextLength, params.maxTokens));
    const ids = fitted.ids.length > 0 ? fitted.ids : [model.eosTokenIds[0] ?? 0];
    const seq: Sequence = {
      id: submission.id,
      promptTokens: ids.length,
      promptTruncated: fitted.truncated,
      droppedMessages: fitted.droppedMessages,
      maxTokens: Math.min(params.maxTokens, model.contextLength - ids.length),
      minTokens: params.minTokens,
      sampler: new Sampler(params, ids),
      decoder: new IncrementalDecoder(this.deps.codec),
      stop: new StopMatcher(params.stop),
      generated: 0,
      lastToken: -1,
      prompt: ids,
      cachedTokens: 0,
      length: 0,
      nextIndex: 0,
      enqueuedAt: submission.enqueuedAt,
      startedAt,
      firstTokenAt: 0,
      alternatives: params.logprobs,
      diagnostics: submission.diagnostics ? { promptIds: ids, tokenIds: [], promptLogits: [], batchSizes: [], promptsPending: [] } : undefined,
    };
    const slots = this.deps.slots;
    if (slots) {
      // Into the row it will decode in, starting from what the prefix cache holds of the prompt
      // (not with diagnostics, which report every prompt position's logits); read by advancePrefills.
      const row = this.running.length + this.prefilling.length;
      slots.ensureCapacity(ids.length + 1, this.cachedLengths());
      seq.cachedTokens = seq.length = submission.diagnostics ? 0 : (this.deps.prefixCache?.restore(ids, slots, row) ?? 0);
      this.prefilling.push(seq);
      return undefined;
    }
    const n = ids.length;
    const empty = KvBatch.empty(io);
    const feeds: Record<string, Tensor> = {
      input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
      attention_mask: new Tensor('int64', empty.mask(n), [1, n]),
    };
    if (io.hasPositionIds) feeds.position_ids = new Tensor('int64', BigInt64Array.from(ids, (_, i) => BigInt(i)), [1, n]);
    if (io.hasUseCacheBranch) feeds.use_cache_branch = new Tensor('bool', [false], [1]);
    io.cache.forEach((slot, i) => (feeds[slot.past] = empty.tensors[i]!));
    const out = await session.run(feeds);
    seq.length = n;
    this.promptDone(seq, out[io.logits]!);
    if (seq.finished) return undefined;
    this.running.push(seq);
    return { seq, kv: empty.advance(io.cache.map((slot) => out[slot.present]!), n) };
  }

  /** The prompt's logits are in: records them for diagnostics and samples the first token. */
  private promptDone(seq: Sequence, logits: Tensor) {
    seq.diagnostics?.promptLogits.push(...positionRows(logits));
    this.accept(seq, this.sample(seq, lastRows(logits, 1)[0]!));
  }

  /**
   * Reads the prompts of the sequences being prefilled, first come first, up to
   * prefillChunkTokens this step (all of them without a limit). One whose prompt is done gets its
   * first token and joins the decode batch (its row is the next one already). Returns how many
   * runs it made.
   */
  private async advancePrefills(): Promise<number> {
    const slots = this.deps.slots!;
    const { io } = this.deps;
    let budget = this.deps.prefillChunkTokens || Infinity;
    let runs = 0;
    while (budget > 0 && this.prefilling.length > 0) {
      const seq = this.prefilling[0]!;
      const row = this.running.length;
      const { prompt } = seq;
      const chunk = prompt.slice(seq.length, seq.length + promptRun(prompt.length - seq.length, budget, seq.length > 0));
      const end = seq.length + chunk.length;
      const feeds: Record<string, Tensor> = {
        input_ids: new Tensor('int64', BigInt64Array.from(chunk, BigInt), [1, chunk.length]),
        // A prompt's first chunk has nothing cached to attend to: an empty past spares it the capacity.
        attention_mask: slots.mask([seq.length], chunk.length, seq.length === 0 ? 0 : undefined),
      };
      if (io.hasPositionIds) feeds.position_ids = new Tensor('int64', BigInt64Array.from(chunk, (_, i) => BigInt(seq.length + i)), [1, chunk.length]);
      let out: InferenceSession.OnnxValueMapType;
      try {
        out = await this.runInPlace(feeds, seq.length === 0 ? slots.emptyViews() : slots.views(row, 1));
      } catch (error) {
        // This prompt fails alone: the running batch and the other prompts go on.
        this.emit(seq.id, { type: 'error', message: (error as Error).message });
        this.dropFirstPrefilling();
        continue;
      }
      runs++;
      slots.write(row, seq.length, this.addedPositions(out), 0);
      seq.length = end;
      budget -= chunk.length;
      if (end < prompt.length) {
        seq.diagnostics?.promptLogits.push(...positionRows(out[io.logits]!));
        continue;
      }
      this.promptDone(seq, out[io.logits]!);
      if (seq.finished) {
        // Done at its first token (a one-token reply): keep its prompt for the prefix cache, free its row.
        this.keepPrompt(seq, row);
        this.dropFirstPrefilling();
      } else {
        this.running.push(this.prefilling.shift()!);
      }
    }
    return runs;
  }

  /**
   * Leaves a finished sequence's prompt in the prefix cache. Only the prompt: its values were
   * computed as a prompt's (cached-attention.ts), as a later prompt starting the same way computes
   * them; the generated tokens' were computed a decode step at a time, which rounds differently.
   */
  private keepPrompt(seq: Sequence, row: number) {
    this.deps.prefixCache?.store(seq.prompt, Math.min(seq.length, seq.prompt.length), this.deps.slots!, row);
  }

  /** Removes prefilling[0]; the others' rows move down one. */
  private dropFirstPrefilling() {
    const first = this.prefilling[0];
    this.retainPrefilling(this.running.length, (seq) => seq !== first);
  }

  /** Lays out the cache for the current members: survivors in their order, then joiners. */
  private relayCache(joiners: Joiner[]) {
    const joining = new Map(joiners.map((j) => [j.seq, j.kv!]));
    const survivors = this.kv ? this.survivorRows() : [];
    const rows = this.running.map((seq) => {
      const own = joining.get(seq);
      return own ? { batch: own, row: 0 } : survivors.find((s) => s.seq === seq)!;
    });
    this.kv = rows.length > 0 ? KvBatch.compose(this.deps.io, rows) : undefined;
    this.kvMembers = [...this.running];
  }

  /** Which row of the current cache each previous member occupies. */
  private kvMembers: Sequence[] = [];
  private survivorRows() {
    return this.kvMembers.map((seq, row) => ({ seq, batch: this.kv!, row }));
  }

  private async decode() {
    const { io, session, slots } = this.deps;
    const batch = this.running;
    const size = batch.length;
    // Counted before the run: requests that arrive during it could not have joined it.
    const pending = this.waiting.length + this.prefilling.length;
    const feeds: Record<string, Tensor> = { input_ids: new Tensor('int64', BigInt64Array.from(batch, (s) => BigInt(s.lastToken)), [size, 1]) };
    if (io.hasPositionIds) feeds.position_ids = new Tensor('int64', BigInt64Array.from(batch, (s) => BigInt(s.length)), [size, 1]);
    if (io.hasUseCacheBranch) feeds.use_cache_branch = new Tensor('bool', [true], [1]);
    let out: InferenceSession.OnnxValueMapType;
    if (slots) {
      // Room for this step and for the prompts still being read; no more, as attention reads it all.
      const needed = Math.max(...batch.map((s) => s.length + 1), ...this.prefilling.map((s) => s.prompt.length + 1));
      slots.fit(needed, this.cachedLengths());
      feeds.attention_mask = slots.mask(batch.map((s) => s.length), 1);
      out = await this.runInPlace(feeds, slots.views(0, size));
      const added = this.addedPositions(out);
      batch.forEach((seq, row) => slots.write(row, seq.length, added, row));
    } else {
      const kv = this.kv!;
      feeds.attention_mask = new Tensor('int64', kv.mask(1), [size, kv.width + 1]);
      io.cache.forEach((slot, i) => (feeds[slot.past] = kv.tensors[i]!));
      out = await session.run(feeds);
      this.kv = kv.advance(io.cache.map((slot) => out[slot.present]!));
    }
    const rows = lastRows(out[io.logits]!, size);
    batch.forEach((seq, row) => {
      seq.diagnostics?.batchSizes.push(size);
      seq.diagnostics?.promptsPending.push(pending);
      seq.length++;
      this.accept(seq, this.sample(seq, rows[row]!));
    });
  }

  /** Positions cached in each row of the in-place cache, row by row. */
  private cachedLengths(): number[] {
    return [...this.running, ...this.prefilling].map((seq) => seq.length);
  }

  /** Runs with the cache views as past, fetching the logits and the added positions only. */
  private runInPlace(feeds: Record<string, Tensor>, views: Tensor[]): Promise<InferenceSession.OnnxValueMapType> {
    const { io, session } = this.deps;
    io.cache.forEach((slot, i) => (feeds[slot.past] = views[i]!));
    return session.run(feeds, [io.logits, ...io.newCache!]);
  }

  private addedPositions(out: InferenceSession.OnnxValueMapType): Tensor[] {
    return this.deps.io.newCache!.map((name) => out[name] as Tensor);
  }

  /** Samples a sequence's next token; before its minTokens, end-of-sequence tokens are ruled out (as transformers' min_new_tokens does). */
  private sample(seq: Sequence, logits: Float32Array): number {
    if (seq.alternatives !== undefined) seq.distribution = distributionOf(logits, seq.alternatives);
    if (seq.generated < seq.minTokens) for (const id of this.eos) if (id < logits.length) logits[id] = -Infinity;
    return seq.sampler.sample(logits);
  }

  /** Handles a sampled token: EOS, text, stop sequences, length. */
  private accept(seq: Sequence, token: number) {
    if (seq.generated === 0) seq.firstTokenAt = this.now();
    const previous = seq.generated === 0 ? (seq.prompt.at(-1) ?? -1) : seq.lastToken;
    seq.generated++;
    seq.lastToken = token;
    seq.diagnostics?.tokenIds.push(token);
    if (this.eos.has(token)) return this.finish(seq, 'eos');
    if (seq.distribution) (seq.pendingLogprobs ??= []).push(tokenLogprob(seq.distribution, token, previous, this.deps.codec));
    seq.sampler.accept(token);
    const { emit, stopped } = seq.stop.push(seq.decoder.push(token));
    this.emitText(seq, emit, token);
    if (stopped) return this.finish(seq, 'stop');
    if (seq.generated >= seq.maxTokens || seq.length + 1 > this.deps.model.contextLength) this.finish(seq, 'length');
  }

  private emitText(seq: Sequence, text: string, tokenId: number) {
    if (text.length === 0) return;
    const logprobs = seq.pendingLogprobs;
    seq.pendingLogprobs = undefined;
    this.emit(seq.id, { type: 'token', index: seq.nextIndex++, delta: text, tokenId, ...(logprobs ? { logprobs } : {}) });
  }

  private finish(seq: Sequence, reason: FinishReason) {
    seq.finished = reason;
    this.cancelled.delete(seq.id);
    if (reason !== 'stop') {
      const tail = seq.stop.push(seq.decoder.flush());
      this.emitText(seq, tail.emit + (tail.stopped ? '' : seq.stop.flush()), seq.lastToken);
    }
    const done = this.now();
    const completionTokens = seq.generated;
    const decodeSeconds = (done - seq.firstTokenAt) / 1000;
    this.emit(seq.id, {
      type: 'done',
      finishReason: reason,
      usage: { promptTokens: seq.promptTokens, completionTokens },
      cachedPromptTokens: seq.cachedTokens,
      timings: {
        queueSeconds: (seq.startedAt - seq.enqueuedAt) / 1000,
        timeToFirstTokenSeconds: seq.firstTokenAt ? (seq.firstTokenAt - seq.enqueuedAt) / 1000 : 0,
        tokensPerSecond: decodeRate(completionTokens, decodeSeconds),
      },
      promptTruncated: seq.promptTruncated,
      droppedMessages: seq.droppedMessages,
      ...(seq.diagnostics ? { diagnostics: seq.diagnostics } : {}),
    });
  }
}

const asFloat32 = (logits: Tensor) => (logits.type === 'float16' ? fromHalf(logits.data as Uint16Array) : (logits.data as Float32Array));

/** The last position's logits of each of `rows` rows, as float32. */
function lastRows(logits: Tensor, rows: number): Float32Array[] {
  const [, positions, vocab] = logits.dims as [number, number, number];
  const data = asFloat32(logits);
  return Array.from({ length: rows }, (_, r) => data.slice(((r + 1) * positions - 1) * vocab, (r + 1) * positions * vocab));
}

/** Every position's logits of a one-row output, as float32. */
function positionRows(logits: Tensor): Float32Array[] {
  const [, positions, vocab] = logits.dims as [number, number, number];
  const data = asFloat32(logits);
  return Array.from({ length: positions }, (_, p) => data.slice(p * vocab, (p + 1) * vocab));
}

/**
 * Prompt tokens to read in one run, within `budget` where it allows: a run of one token after
 * others is read as a decode step (cached-attention.ts), so no run leaves a single token behind,
 * and a later run takes two at least.
 */
export function promptRun(remaining: number, budget: number, started: boolean): number {
  let take = Math.min(budget, remaining);
  if (started && take === 1) take = Math.min(2, remaining);
  if (remaining - take === 1) take = take > 2 ? take - 1 : remaining;
  return take;
}
