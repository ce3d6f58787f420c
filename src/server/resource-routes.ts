/**
 * HTTP routes for a user's resources beside GraphQL: `GET /files/:id` (the stored bytes) and
 * `GET /conversations/:id/export?format=json|md|pdf`. Both take the bearer token like GraphQL,
 * and answer another user's id exactly like a missing one (404), as the GraphQL API does.
 */
import type { Plugin } from 'graphql-yoga';
import type { Identity } from '../auth/identity.ts';
import { AppError, ErrorCode, badInput, unauthenticated } from '../errors.ts';
import { allMessages, toExport } from '../export/conversation-export.ts';
import { renderMarkdown } from '../export/markdown.ts';
import { renderPdf } from '../export/pdf.ts';
import { contentDisposition } from '../files/names.ts';
import type { Services } from '../services.ts';
import { bearerToken, identify } from './context.ts';
import { rawId } from '../schema/global-id.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';
import { UNAVAILABLE_MESSAGE } from './errors.ts';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.BAD_USER_INPUT]: 400,
};

const FILE_ROUTE = /^\/files\/([^/]+)$/;
const EXPORT_ROUTE = /^\/conversations\/([^/]+)\/export$/;

/** A path segment as sent; one that is not valid percent-encoding names nothing. */
const decodeSegment = (segment: string) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
};

export const EXPORT_FORMATS = ['json', 'md', 'pdf'] as const;
type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Text types are served with their charset; everything is an attachment, never rendered. */
const served = (contentType: string) => (contentType.startsWith('text/') || contentType === 'application/json' ? `${contentType}; charset=utf-8` : contentType);

export function resourceRoutesPlugin(services: Services): Plugin {
  async function caller(request: Request): Promise<Identity> {
    const found = await identify(services, () => bearerToken(request.headers.get('authorization')));
    if (!found) throw unauthenticated();
    return found.identity;
  }

  async function download(identity: Identity, fileId: string, fetchAPI: { Response: typeof Response }): Promise<Response> {
    const { record, body } = await services.files.open(identity.userId, fileId);
    return new fetchAPI.Response(body as unknown as BodyInit, {
      headers: {
        'content-type': served(record.contentType),
        'content-length': String(record.size),
        'content-disposition': contentDisposition(record.name),
        'x-content-type-options': 'nosniff',
        'cache-control': 'private, no-store',
      },
    });
  }

  async function exportConversation(identity: Identity, conversationId: string, url: URL, fetchAPI: { Response: typeof Response }): Promise<Response> {
    const format = (url.searchParams.get('format') ?? 'json') as ExportFormat;
    if (!EXPORT_FORMATS.includes(format)) throw badInput(`format must be one of ${EXPORT_FORMATS.join(', ')}`, { argument: 'format' });
    const conversation = await services.conversations.own(identity.userId, conversationId);
    const data = toExport(conversation, await allMessages(services.messages, conversation.conversationId));
    const base = `conversation-${conversation.conversationId}`;
    const [body, contentType] =
      format === 'json'
        ? [JSON.stringify(data, null, 2), 'application/json; charset=utf-8']
        : format === 'md'
          ? [renderMarkdown(data), 'text/markdown; charset=utf-8']
          : [await renderPdf(data), 'application/pdf'];
    return new fetchAPI.Response(body as BodyInit, {
      headers: {
        'content-type': contentType,
        'content-disposition': contentDisposition(`${base}.${format}`),
        'x-content-type-options': 'nosniff',
        'cache-control': 'private, no-store',
      },
    });
  }

  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      const fileMatch = FILE_ROUTE.exec(url.pathname);
      const exportMatch = fileMatch ? undefined : EXPORT_ROUTE.exec(url.pathname);
      if (!fileMatch && !exportMatch) return;
      const fail = (status: number, code: string, message: string) =>
        endResponse(
          new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
            status,
            headers: {
              'content-type': 'application/json',
              ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
              ...(status === 503 ? { 'retry-after': '1' } : {}),
            },
          }),
        );
      if (request.method !== 'GET' && request.method !== 'HEAD') return fail(405, ErrorCode.BAD_USER_INPUT, 'Only GET is allowed here');
      try {
        const identity = await caller(request);
        // A global id (percent-encoded: base64 may hold '/') or a bare ULID; anything else is no
        // id of the user's (404).
        const segment = (fileMatch ?? exportMatch)![1]!;
        const id = rawId(fileMatch ? 'StoredFile' : 'Conversation', decodeSegment(segment));
        endResponse(fileMatch ? await download(identity, id, fetchAPI) : await exportConversation(identity, id, url, fetchAPI));
      } catch (error) {
        if (error instanceof AppError && STATUS[error.code]) return fail(STATUS[error.code]!, error.code, error.message);
        if (isDependencyUnavailable(error)) {
          services.logger.warn({ err: error, path: url.pathname }, 'a dependency is unavailable');
          return fail(503, ErrorCode.UNAVAILABLE, UNAVAILABLE_MESSAGE);
        }
        services.logger.error({ err: error, path: url.pathname }, 'resource route failed');
        return fail(500, ErrorCode.INTERNAL, 'Internal server error');
      }
    },
  };
}
