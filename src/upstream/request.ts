/**
 * What an upstream OpenAI-compatible server is sent for one generation: a chat completion for
 * messages, a text completion for a prompt, always streamed with usage in the last chunk.
 * Settings the OpenAI reference lacks (top_k, min_p, repetition_penalty, min_tokens) go as the
 * extra sampling parameters vLLM documents, and only when set, so servers that know only the
 * reference see a request they understand.
 */
import type { GenerationParams } from '../inference/params.ts';
import type { PromptInput } from '../inference/prompt.ts';

export type UpstreamRequest =
  | { kind: 'chat'; body: Record<string, unknown> & { messages: { role: string; content: string }[] } }
  | { kind: 'text'; body: Record<string, unknown> & { prompt: string } };

/** Only the parameters that are set: absent ones take the upstream model's defaults, as they would here. */
function sampling(params: GenerationParams): Record<string, unknown> {
  const entries: [string, unknown][] = [
    ['max_tokens', params.maxTokens],
    ['temperature', params.temperature],
    ['top_p', params.topP],
    ['seed', params.seed],
    ['presence_penalty', params.presencePenalty],
    ['frequency_penalty', params.frequencyPenalty],
    ['stop', params.stop && params.stop.length > 0 ? [...params.stop] : undefined],
    // vLLM's extra sampling parameters (0 and 1 are "off" here, so those are not sent).
    ['top_k', params.topK || undefined],
    ['min_p', params.minP || undefined],
    ['repetition_penalty', params.repetitionPenalty === 1 ? undefined : params.repetitionPenalty],
    ['min_tokens', params.minTokens || undefined],
  ];
  return Object.fromEntries(entries.filter(([, value]) => value !== null && value !== undefined));
}

export function upstreamRequest(model: string, input: PromptInput, params: GenerationParams): UpstreamRequest {
  const common = { model, stream: true, stream_options: { include_usage: true }, ...sampling(params) };
  const alternatives = params.logprobs;
  if ('prompt' in input) {
    // A resumed generation goes on from its text so far: a plain prompt simply includes it.
    const prompt = input.prompt + (input.continuation ?? '');
    return { kind: 'text', body: { ...common, prompt, ...(alternatives == null ? {} : { logprobs: alternatives }) } };
  }
  const messages = input.messages.map(({ role, content }) => ({ role, content }));
  // A resumed chat reply: the text so far as the final assistant message, which vLLM continues
  // (`continue_final_message`, its documented extension) instead of starting a new one.
  const resumed = input.continuation ? { continue_final_message: true, add_generation_prompt: false } : {};
  if (input.continuation) messages.push({ role: 'assistant', content: input.continuation });
  return {
    kind: 'chat',
    body: { ...common, messages, ...resumed, ...(alternatives == null ? {} : { logprobs: true, top_logprobs: alternatives }) },
  };
}
