/**
 * Log-probabilities in the two shapes OpenAI's API reference gives them: chat completions list
 * one entry per token (`{ token, logprob, bytes, top_logprobs }`); the legacy text completions
 * keep parallel arrays (`tokens`, `token_logprobs`, `top_logprobs` as objects, `text_offset`).
 */
import type { TokenAlternative, TokenLogprob } from '../inference/protocol.ts';
import type { CompletionKind } from './responses.ts';

/** The token's UTF-8 bytes; null where it is only part of a character (its text holds U+FFFD). */
const bytesOf = (token: string) => (token.includes('\uFFFD') ? null : [...Buffer.from(token, 'utf8')]);

const chatEntry = ({ token, logprob }: TokenAlternative) => ({ token, logprob, bytes: bytesOf(token) });

/**
 * The `logprobs` of a choice or chunk covering `entries`; `offset` is where their text starts in
 * the completion (text completions report each token's offset).
 */
export function choiceLogprobs(kind: CompletionKind, entries: readonly TokenLogprob[], offset: number) {
  if (kind === 'chat') return { content: entries.map((entry) => ({ ...chatEntry(entry), top_logprobs: entry.top.map(chatEntry) })), refusal: null };
  const text_offset: number[] = [];
  for (const entry of entries) {
    text_offset.push(offset);
    offset += entry.token.length;
  }
  return {
    tokens: entries.map((entry) => entry.token),
    token_logprobs: entries.map((entry) => entry.logprob),
    // Keyed by text: where two tokens read the same, the likelier (listed first) keeps the key.
    top_logprobs: entries.map((entry) => Object.fromEntries(entry.top.toReversed().map((alt) => [alt.token, alt.logprob]))),
    text_offset,
  };
}
