/**
 * HTTP-level protections in front of GraphQL: request body size, CSRF, CORS and response
 * security headers.
 */
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin, type YogaServerOptions } from 'graphql-yoga';
import { ErrorCode } from '../errors.ts';

/** Clients that are not browsers can send this header to pass the CSRF check with any content type. */
export const CSRF_HEADER = 'x-graphql-csrf';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** Room in a multipart request for the parts beside the file (operations, map, boundaries). */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/**
 * Limits busboy applies while yoga reads a multipart request: one file of at most the upload
 * limit, and the other parts no larger than an ordinary request body.
 */
export function uploadFormDataLimits(maxBodyBytes: number, uploadMaxBytes: number) {
  return { fileSize: uploadMaxBytes, files: 1, fields: 8, parts: 9, fieldSize: maxBodyBytes, fieldNameSize: 100, headerPairs: 100 };
}

/**
 * Refuses bodies larger than the limit before reading them. A body must declare its length:
 * Node's HTTP parser then never reads past it, so checking the header is enough, where a
 * chunked body would need counting while yoga reads it.
 */
export function bodyLimitPlugin(maxBytes: number, uploadMaxBytes: number): Plugin {
  return {
    onRequest({ request, endResponse, fetchAPI }) {
      if (!METHODS_WITH_BODY.has(request.method)) return;
      // A multipart request carries an upload: its own limit, plus room for the operation and map
      // parts. The file part itself is counted again while it is read (uploadFormDataLimits).
      const limit = request.headers.get('content-type')?.toLowerCase().startsWith('multipart/form-data')
        ? uploadMaxBytes + MULTIPART_OVERHEAD_BYTES
        : maxBytes;
      const declared = request.headers.get('content-length');
      const refuse = (status: number, message: string) =>
        endResponse(
          new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code: ErrorCode.BAD_USER_INPUT } }] }), {
            status,
            // Not `connection: close`: the client is still sending, and a socket closed under it
            // fails its write (fetch reports EPIPE, never this answer). Node reads and discards
            // the rest of an unread body, within the server's requestTimeout, storing none of it.
            headers: { 'content-type': 'application/json' },
          }),
        );
      if (declared === null) {
        if (request.headers.has('transfer-encoding')) return refuse(411, 'A request body must declare its Content-Length');
        return;
      }
      const length = Number(declared);
      if (!Number.isSafeInteger(length) || length < 0) return refuse(400, 'Invalid Content-Length');
      if (length > limit) return refuse(413, `Request body larger than ${limit} bytes`);
    },
  };
}

/**
 * Yoga answers a body it cannot parse (an unsupported content type) with a bare 415; clients
 * get a GraphQL error with a contract code instead, like for every other refusal.
 */
/** Yoga's bare refusals (no body) rewritten as GraphQL errors that say what to change. */
const BARE_REFUSALS: Record<number, string> = {
  415: 'Unsupported content type: send application/json',
  406: 'This operation streams (a subscription): accept text/event-stream, or use graphql-ws',
};

export function unsupportedMediaTypePlugin(): Plugin {
  return {
    onResponse({ response, setResponse, fetchAPI }) {
      const message = BARE_REFUSALS[response.status];
      if (!message || response.body !== null) return;
      setResponse(
        new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code: ErrorCode.BAD_USER_INPUT } }] }), {
          status: response.status,
          headers: { 'content-type': 'application/json' },
        }),
      );
    },
  };
}

/**
 * A subscription in a batched HTTP request has no stream to go to: yoga would start it, answer
 * `{}` in its place and leave it subscribed. It is ended at once and answered with an error.
 */
export function batchedSubscriptionPlugin(): Plugin {
  return {
    onResultProcess({ result, setResult }) {
      if (!Array.isArray(result) || !result.some(isAsyncIterable)) return;
      setResult(
        result.map((item: unknown) => {
          if (!isAsyncIterable(item)) return item as (typeof result)[number];
          void item[Symbol.asyncIterator]().return?.();
          return { errors: [new GraphQLError('A subscription cannot be sent in a batch: send it alone with Accept: text/event-stream, or use graphql-ws', { extensions: { code: ErrorCode.BAD_USER_INPUT } })] };
        }),
      );
    },
  };
}

/**
 * Yoga's CSRF prevention, for requests that can change something. A browser sends a
 * form-encoded, multipart or text/plain POST cross-site without a CORS preflight; requiring a
 * custom header (or a JSON content type) forces the preflight, which CORS_ORIGINS then decides.
 * GET is left alone: yoga runs no mutation over GET, and credentials are a bearer header that a
 * cross-site page cannot attach, so a forged GET is an anonymous read it cannot see the answer to.
 */
export function csrfPlugin(): Plugin {
  const csrf = useCSRFPrevention({ requestHeaders: [CSRF_HEADER] });
  return {
    onRequestParse(payload) {
      if (payload.request.method === 'GET') return;
      return csrf.onRequestParse?.(payload);
    },
  };
}

/** Cross-origin access for the listed browser origins only; none listed: same origin only. */
export function corsOptions(origins: string[]): YogaServerOptions<object, object>['cors'] {
  if (origins.length === 0) return false;
  return {
    origin: origins,
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'accept', CSRF_HEADER],
    // Tokens travel in the Authorization header, never in cookies.
    credentials: false,
    maxAge: 600,
  };
}

/** Headers every HTTP response carries; HSTS only where the public URL is HTTPS. */
export function securityHeadersPlugin(options: { https: boolean }): Plugin {
  return {
    onResponse({ response }) {
      const headers = response.headers;
      headers.set('x-content-type-options', 'nosniff');
      headers.set('referrer-policy', 'no-referrer');
      headers.set('x-frame-options', 'DENY');
      headers.set('cross-origin-opener-policy', 'same-origin');
      // Pages bring their own policy: GraphiQL loads its scripts from a CDN, the chat page sets a
      // strict one (src/web/page.ts). Every other response is data, never a page.
      if (!headers.get('content-type')?.startsWith('text/html')) {
        headers.set('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
      }
      if (options.https) headers.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
    },
  };
}
