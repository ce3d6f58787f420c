/**
 * OpenAI's chat and text completion requests, as its API reference defines them, read into what
 * the generation service takes. What gptql cannot do yet is refused by name (HTTP 400 naming the
 * parameter), never silently ignored. vLLM's extra sampling parameters are taken too, so that
 * its clients (and another gptql's upstream engine) can use them; fields neither knows are
 * ignored, as vLLM ignores them.
 */
import { z } from 'zod';
import { badInput } from '../errors.ts';
import type { RequestParams, StatelessInput } from '../generation/service.ts';
import { MAX_TOP_LOGPROBS } from '../inference/logprobs.ts';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1)]);

const common = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  n: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  seed: z.number().int().nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  user: z.string().nullish(),
  // vLLM's extra sampling parameters, which its clients (and gptql's upstream engine) send.
  top_k: z.number().int().nullish(),
  min_p: z.number().nullish(),
  repetition_penalty: z.number().nullish(),
  min_tokens: z.number().int().nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
};

const chatRequest = z.object({
  ...common,
  messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant', 'developer']), content, name: z.string().nullish() })).min(1),
  max_completion_tokens: z.number().int().min(1).nullish(),
  tools: z.array(z.unknown()).nullish(),
  functions: z.array(z.unknown()).nullish(),
  response_format: z.object({ type: z.string() }).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
});

const completionRequest = z.object({
  ...common,
  prompt: z.string(),
  // The reference's limit for the legacy endpoint.
  logprobs: z.number().int().min(0).max(5).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().nullish(),
});

export interface OpenAIRequest {
  model: string;
  input: StatelessInput;
  params: RequestParams;
  stream: boolean;
  includeUsage: boolean;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = issue.path.join('.') || 'body';
  throw badInput(`${param}: ${issue.message}`, { argument: param });
}

function params(request: z.infer<z.ZodObject<typeof common>>, maxTokens: number | null | undefined, logprobs: number | undefined): RequestParams {
  if (request.n != null && request.n !== 1) throw badInput('Only n=1 is supported', { argument: 'n' });
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0) throw refuse('logit_bias', 'logit_bias');
  return {
    model: request.model,
    maxTokens,
    temperature: request.temperature,
    topP: request.top_p,
    stop: request.stop == null ? undefined : typeof request.stop === 'string' ? [request.stop] : request.stop,
    seed: request.seed,
    presencePenalty: request.presence_penalty,
    frequencyPenalty: request.frequency_penalty,
    topK: request.top_k,
    minP: request.min_p,
    repetitionPenalty: request.repetition_penalty,
    minTokens: request.min_tokens,
    logprobs,
  };
}

const refuse = (param: string, what: string) => badInput(`${what} is not supported yet`, { argument: param });

export function chatCompletionRequest(body: unknown): OpenAIRequest {
  const request = parse(chatRequest, body);
  // A client relying on these would get a reply that silently ignores them.
  if (request.tools?.length) throw refuse('tools', 'Tool calling');
  if (request.functions?.length) throw refuse('functions', 'Function calling');
  if (request.response_format && request.response_format.type !== 'text') throw refuse('response_format', `response_format ${request.response_format.type}`);
  if (request.top_logprobs != null && !request.logprobs) throw badInput('top_logprobs needs logprobs: true', { argument: 'top_logprobs' });
  const messages = request.messages.map((message) => ({
    // The reference's "developer" role is its newer name for "system".
    role: message.role === 'developer' ? ('system' as const) : message.role,
    content: typeof message.content === 'string' ? message.content : message.content.map((part) => part.text).join(''),
  }));
  return { model: request.model, input: { messages }, params: params(request, request.max_completion_tokens ?? request.max_tokens, request.logprobs ? (request.top_logprobs ?? 0) : undefined), stream: Boolean(request.stream), includeUsage: Boolean(request.stream_options?.include_usage) };
}

export function textCompletionRequest(body: unknown): OpenAIRequest {
  const request = parse(completionRequest, body);
  if (request.echo) throw refuse('echo', 'echo');
  if (request.suffix != null) throw refuse('suffix', 'suffix');
  if (request.best_of != null && request.best_of !== 1) throw refuse('best_of', 'best_of above 1');
  return { model: request.model, input: { prompt: request.prompt }, params: params(request, request.max_tokens, request.logprobs ?? undefined), stream: Boolean(request.stream), includeUsage: Boolean(request.stream_options?.include_usage) };
}
