/**
 * The job contract between API and worker processes, which may run different releases: a
 * discriminated union, written by the API after its checks and read back by the worker through
 * `parseJob`. A job of a kind this worker does not know, or one that is malformed, is refused
 * here and dead-lettered by the queue rather than half-run.
 *
 * Parameters are checked on the API side against model-independent ranges; what depends on the
 * model (vocabulary, context window) is resolved by the worker against the model it serves.
 */
import { z } from 'zod';
import { ROLES } from '../auth/identity.ts';
import { MODEL_NAME } from './names.ts';

const id = z.string().min(1);

const params = z
  .object({
    maxTokens: z.number().int().nullish(),
    minTokens: z.number().int().nullish(),
    temperature: z.number().nullish(),
    topK: z.number().int().nullish(),
    topP: z.number().nullish(),
    minP: z.number().nullish(),
    repetitionPenalty: z.number().nullish(),
    frequencyPenalty: z.number().nullish(),
    presencePenalty: z.number().nullish(),
    seed: z.number().int().nullish(),
    stop: z.array(z.string()).readonly().nullish(),
    logprobs: z.number().int().nullish(),
    /** The model to run on, which routes the job. Absent in an earlier release's jobs: the default model. */
    model: z.string().regex(MODEL_NAME).nullish(),
  })
  .strict();

/** What the usage ledger records a generation under: what asked for it, and the role whose quota it counts against. */
export const USAGE_KINDS = ['message', 'regenerate', 'edit', 'generate', 'stream', 'api', 'title'] as const;
/** Work the system does for the user unasked: recorded in the ledger, not counted against quotas. */
export const BACKGROUND_KINDS: ReadonlySet<UsageKind> = new Set(['title']);
const accounting = z.object({ kind: z.enum(USAGE_KINDS), role: z.enum(ROLES) }).strict();

const base = {
  generationId: id,
  userId: id,
  enqueuedAt: z.iso.datetime(),
  params,
  /** Absent in an earlier release's jobs: then read from the job's kind (`accountingOf`). */
  accounting: accounting.optional(),
  /** W3C trace context of the request that enqueued it, when tracing is on: the worker's spans join its trace. */
  trace: z.object({ traceparent: z.string().max(128), tracestate: z.string().max(512).optional() }).strict().optional(),
};

const conversationReply = z.object({
  kind: z.literal('conversation-reply'),
  ...base,
  conversationId: id,
  /** The id the reply is stored under, fixed at enqueue time: a redelivered job stores it once. */
  replyMessageId: id,
  /** The user message the reply answers. */
  parentMessageId: id,
});

const chatMessage = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });

/** `generate` and `generateStream`: the input travels with the job; nothing is stored. */
const stateless = z.object({
  kind: z.literal('stateless'),
  ...base,
  input: z.union([z.object({ prompt: z.string() }).strict(), z.object({ messages: z.array(chatMessage).min(1) }).strict()]),
});

/** A conversation's title, written by the model after its first reply; stored only while the title is still the automatic one. */
const title = z.object({
  kind: z.literal('title'),
  ...base,
  conversationId: id,
});

const jobSchema = z.discriminatedUnion('kind', [conversationReply, stateless, title]);

export type ConversationReplyJob = z.infer<typeof conversationReply>;
export type StatelessGenerationJob = z.infer<typeof stateless>;
export type TitleJob = z.infer<typeof title>;
/** The jobs whose events clients follow (a title job streams nothing). */
export type StreamedJob = ConversationReplyJob | StatelessGenerationJob;
export type GenerationJob = z.infer<typeof jobSchema>;
export type JobKind = GenerationJob['kind'];
export type UsageKind = (typeof USAGE_KINDS)[number];
export type JobAccounting = z.infer<typeof accounting>;

export function accountingOf(job: GenerationJob): JobAccounting {
  return job.accounting ?? { kind: job.kind === 'stateless' ? 'generate' : job.kind === 'title' ? 'title' : 'message', role: 'users' };
}

export class MalformedJobError extends Error {
  override readonly name = 'MalformedJobError';
}

export function encodeJob(job: GenerationJob): string {
  return JSON.stringify(job);
}

/** The job a queue message holds; MalformedJobError, saying what is wrong, for anything else. */
export function parseJob(body: string): GenerationJob {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new MalformedJobError('generation job is not JSON');
  }
  const parsed = jobSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new MalformedJobError(`generation job refused: ${issue.path.join('.') || 'job'}: ${issue.message}`);
}
