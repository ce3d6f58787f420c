/** Completions and their stream chunks, shaped as OpenAI's API reference has them. */
import type { TokenLogprob } from '../inference/protocol.ts';
import type { StreamEvent } from '../streams/events.ts';
import { choiceLogprobs } from './logprobs.ts';

type Completed = Extract<StreamEvent, { kind: 'completed' }>;
export type CompletionKind = 'chat' | 'text';

/** OpenAI knows `stop` and `length`; a reply ended by the model's end-of-sequence token, or cancelled, stopped. */
export const finishReason = (reason: Completed['finishReason']) => (reason === 'length' ? 'length' : 'stop');

const usageOf = (completed: Completed) => ({
  prompt_tokens: completed.usage.promptTokens,
  completion_tokens: completed.usage.completionTokens,
  total_tokens: completed.usage.promptTokens + completed.usage.completionTokens,
});

export interface CompletionIdentity {
  kind: CompletionKind;
  id: string;
  created: number;
  model: string;
}

export function completionId(kind: CompletionKind, generationId: string): string {
  return `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${generationId}`;
}

/** The whole completion; `entries`: the tokens' log-probabilities, where the request asked for them. */
export function completion({ kind, id, created }: CompletionIdentity, completed: Completed, entries?: readonly TokenLogprob[]) {
  const logprobs = entries ? choiceLogprobs(kind, entries, 0) : null;
  const choice =
    kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: completed.text, refusal: null }, logprobs, finish_reason: finishReason(completed.finishReason) }
      : { index: 0, text: completed.text, logprobs, finish_reason: finishReason(completed.finishReason) };
  return { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: completed.model, choices: [choice], usage: usageOf(completed) };
}

/**
 * One streamed chunk: a piece of text (with its tokens' log-probabilities, where asked for, and
 * where the text starts in the completion), the end (`finish`), or the usage after it (no choices).
 */
export function chunk(
  { kind, id, created, model }: CompletionIdentity,
  part: { text?: string; logprobs?: { entries: readonly TokenLogprob[]; offset: number }; role?: boolean; finish?: Completed['finishReason']; usage?: Completed },
) {
  const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  if (part.usage) return { id, object, created, model, choices: [], usage: usageOf(part.usage) };
  const finish_reason = part.finish ? finishReason(part.finish) : null;
  const logprobs = part.logprobs ? choiceLogprobs(kind, part.logprobs.entries, part.logprobs.offset) : null;
  const choice =
    kind === 'chat'
      ? { index: 0, delta: part.role ? { role: 'assistant', content: '' } : part.text !== undefined ? { content: part.text } : {}, logprobs, finish_reason }
      : { index: 0, text: part.text ?? '', logprobs, finish_reason };
  return { id, object, created, model, choices: [choice] };
}
