/**
 * The OpenAI-compatible API under `/v1`, authenticated by API keys (src/auth/api-keys.ts), with
 * errors shaped as OpenAI's reference has them: `{ error: { message, type, param, code } }`.
 * `GET /v1/models` lists the models the workers serve; `POST /v1/chat/completions` and
 * `/v1/completions` go through the same generation service as GraphQL (queue, workers, rate
 * limits, quotas, usage ledger), whole or streamed as server-sent events. A client that goes
 * away cancels its generation.
 */
import type { Plugin } from 'graphql-yoga';
import type { Identity } from '../auth/identity.ts';
import { AppError, ErrorCode } from '../errors.ts';
import { chatCompletionRequest, textCompletionRequest, type OpenAIRequest } from '../openai/requests.ts';
import { chunk, completion, completionId, type CompletionIdentity, type CompletionKind } from '../openai/responses.ts';
import type { Services } from '../services.ts';
import type { StreamEvent } from '../streams/events.ts';
import type { TokenLogprob } from '../inference/protocol.ts';
import { bearerToken } from './context.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';
import { UNAVAILABLE_MESSAGE } from './errors.ts';

interface OpenAIError {
  status: number;
  message: string;
  type: string;
  code: string | null;
  param?: string | null;
}

const fromAppError = (error: AppError): OpenAIError & { retryAfter?: number } => {
  const argument = (error.extra.argument as string | undefined) ?? null;
  switch (error.code) {
    case ErrorCode.UNAUTHENTICATED:
      return { status: 401, message: error.message, type: 'invalid_request_error', code: 'invalid_api_key' };
    case ErrorCode.NOT_FOUND:
      return { status: 404, message: error.message, type: 'invalid_request_error', code: null };
    case ErrorCode.RATE_LIMITED:
      return { status: 429, message: error.message, type: 'requests', code: 'rate_limit_exceeded', retryAfter: error.extra.retryAfter as number };
    case ErrorCode.QUOTA_EXCEEDED: {
      const retryAfter = Math.max(1, Math.ceil((Date.parse(error.extra.resetsAt as string) - Date.now()) / 1000));
      return { status: 429, message: error.message, type: 'insufficient_quota', code: 'insufficient_quota', retryAfter };
    }
    case ErrorCode.OVERLOADED:
    case ErrorCode.UNAVAILABLE:
      return { status: 503, message: error.message, type: 'server_error', code: null, retryAfter: 1 };
    case ErrorCode.BAD_USER_INPUT:
      // A model no worker serves is the reference's 404.
      if (argument === 'model' && /not served/.test(error.message)) return { status: 404, message: error.message, type: 'invalid_request_error', code: 'model_not_found', param: 'model' };
      return { status: 400, message: error.message, type: 'invalid_request_error', code: null, param: argument };
    default:
      return { status: 500, message: error.message, type: 'server_error', code: null };
  }
};

const ROUTES: Record<string, { kind: CompletionKind; read: (body: unknown) => OpenAIRequest }> = {
  '/v1/chat/completions': { kind: 'chat', read: chatCompletionRequest },
  '/v1/completions': { kind: 'text', read: textCompletionRequest },
};

const sse = (data: unknown) => `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

export function openAIRoutesPlugin(services: Services): Plugin {
  /** Starts the generation, then answers with the whole completion or its stream of chunks. */
  async function complete(kind: CompletionKind, identity: Identity, request: OpenAIRequest, signal: AbortSignal, fetchAPI: { Response: typeof Response; ReadableStream: typeof ReadableStream }): Promise<Response> {
    const generation = services.generation;
    const meta = await generation.startStateless(identity, 'api', request.input, request.params);
    const cancel = () => void services.streams.requestCancel(meta.generationId).catch(() => undefined);
    signal.addEventListener('abort', cancel, { once: true });
    const events = generation.events(meta, 0)[Symbol.asyncIterator]();
    const id: CompletionIdentity = { kind, id: completionId(kind, meta.generationId), created: Math.floor(Date.parse(meta.createdAt) / 1000), model: request.model };
    const ended = (event: StreamEvent) => event.kind !== 'token';
    const wantsLogprobs = request.params.logprobs != null;
    if (!request.stream) {
      try {
        const entries: TokenLogprob[] = [];
        for (let next = await events.next(); !next.done; next = await events.next()) {
          const event = next.value;
          if (event.kind === 'token' && event.logprobs) entries.push(...event.logprobs);
          if (event.kind === 'completed') {
            return new fetchAPI.Response(JSON.stringify(completion(id, event, wantsLogprobs ? entries : undefined)), { headers: { 'content-type': 'application/json' } });
          }
          if (event.kind === 'failed') throw new AppError(event.code as ErrorCode, event.message);
        }
        throw new AppError(ErrorCode.INTERNAL, 'Generation ended without a result');
      } finally {
        signal.removeEventListener('abort', cancel);
        await events.return?.();
      }
    }
    const encoder = new TextEncoder();
    let finished = false;
    /** Characters streamed so far: where the next piece starts (text completions' `text_offset`). */
    let offset = 0;
    const body = new fetchAPI.ReadableStream<Uint8Array>({
      async start(controller) {
        if (kind === 'chat') controller.enqueue(encoder.encode(sse(chunk(id, { role: true }))));
      },
      async pull(controller) {
        const next = await events.next();
        if (next.done) {
          controller.close();
          return;
        }
        const event = next.value;
        finished = ended(event);
        if (event.kind === 'token') {
          const logprobs = wantsLogprobs ? { entries: event.logprobs ?? [], offset } : undefined;
          controller.enqueue(encoder.encode(sse(chunk(id, { text: event.delta, logprobs }))));
          offset += event.delta.length;
        } else if (event.kind === 'completed') {
          controller.enqueue(encoder.encode(sse(chunk(id, { finish: event.finishReason }))));
          if (request.includeUsage) controller.enqueue(encoder.encode(sse(chunk(id, { usage: event }))));
        } else {
          const { status: _status, retryAfter: _retry, ...error } = fromAppError(new AppError(event.code as ErrorCode, event.message));
          controller.enqueue(encoder.encode(sse({ error: { ...error, param: error.param ?? null } })));
        }
        if (finished) {
          controller.enqueue(encoder.encode(sse('[DONE]')));
          signal.removeEventListener('abort', cancel);
          await events.return?.();
          controller.close();
        }
      },
      async cancel() {
        // The client went away mid-stream.
        if (!finished) cancel();
        await events.return?.();
      },
    });
    return new fetchAPI.Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' } });
  }

  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (url.pathname !== '/v1' && !url.pathname.startsWith('/v1/')) return;
      const respond = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        endResponse(new fetchAPI.Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers } }));
      const fail = ({ status, message, type, code, param = null, retryAfter }: OpenAIError & { retryAfter?: number }) =>
        respond(status, { error: { message, type, param, code } }, {
          ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
          ...(retryAfter ? { 'retry-after': String(retryAfter) } : {}),
        });
      try {
        let key: string | undefined;
        try {
          key = bearerToken(request.headers.get('authorization'));
        } catch {
          key = undefined;
        }
        if (!key) return fail({ status: 401, message: 'Send your API key as "Authorization: Bearer gq_…" (createApiKey makes one)', type: 'invalid_request_error', code: 'invalid_api_key' });
        const identity = await services.apiKeys.authenticate(key);
        const route = ROUTES[url.pathname];
        if (route) {
          if (request.method !== 'POST') return fail({ status: 405, message: 'Use POST', type: 'invalid_request_error', code: null });
          let body: unknown;
          try {
            body = await request.json();
          } catch {
            return fail({ status: 400, message: 'The body must be JSON', type: 'invalid_request_error', code: null });
          }
          return endResponse(await complete(route.kind, identity, route.read(body), request.signal, fetchAPI));
        }
        if (url.pathname === '/v1/models') {
          if (request.method !== 'GET') return fail({ status: 405, message: 'Use GET', type: 'invalid_request_error', code: null });
          const models = await services.models.list();
          // max_model_len: vLLM's addition, which an upstream engine reads the context window from.
          const data = models.map((model) => ({ id: model.name, object: 'model', created: 0, owned_by: 'gptql', max_model_len: model.contextLength }));
          return respond(200, { object: 'list', data });
        }
        return fail({ status: 404, message: `Unknown route ${request.method} ${url.pathname}`, type: 'invalid_request_error', code: 'unknown_url' });
      } catch (error) {
        if (error instanceof AppError) return fail(fromAppError(error));
        if (isDependencyUnavailable(error)) return fail({ status: 503, message: UNAVAILABLE_MESSAGE, type: 'server_error', code: null, retryAfter: 1 });
        services.logger.error({ err: error, path: url.pathname }, 'OpenAI-compatible route failed');
        return fail({ status: 500, message: 'Internal server error', type: 'server_error', code: null });
      }
    },
  };
}
