/**
 * The parts of an OpenAI-compatible stream chunk the upstream engine reads (chat and text
 * completions have different choices), and their log-probabilities in this project's form.
 */
import type { TokenLogprob } from '../inference/protocol.ts';

interface ChatLogprob {
  token: string;
  logprob: number;
  top_logprobs?: { token: string; logprob: number }[];
}

interface ChatChoice {
  delta?: { content?: string | null };
  logprobs?: { content?: ChatLogprob[] | null } | null;
  finish_reason?: string | null;
  /** vLLM's: the stop text or token id that ended the reply, null for end-of-sequence. */
  stop_reason?: unknown;
}

interface TextChoice {
  text?: string;
  logprobs?: { tokens?: string[]; token_logprobs?: (number | null)[]; top_logprobs?: (Record<string, number> | null)[] | null } | null;
  finish_reason?: string | null;
  stop_reason?: unknown;
}

export interface UpstreamChunk {
  choices?: (ChatChoice | TextChoice)[];
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
}

const alternatives = (top: Record<string, number> | null | undefined) =>
  Object.entries(top ?? {})
    .map(([token, logprob]) => ({ token, logprob }))
    .sort((a, b) => b.logprob - a.logprob);

/** A choice's log-probabilities, one per token; undefined where the server sent none. */
export function chunkLogprobs(choice: ChatChoice | TextChoice): TokenLogprob[] | undefined {
  if ('delta' in choice) {
    const content = (choice as ChatChoice).logprobs?.content;
    return content ? content.map(({ token, logprob, top_logprobs }) => ({ token, logprob, top: (top_logprobs ?? []).map(({ token, logprob }) => ({ token, logprob })) })) : undefined;
  }
  const logprobs = (choice as TextChoice).logprobs;
  if (!logprobs?.tokens) return undefined;
  return logprobs.tokens.map((token, i) => ({ token, logprob: logprobs.token_logprobs?.[i] ?? 0, top: alternatives(logprobs.top_logprobs?.[i]) }));
}
