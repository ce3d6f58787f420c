/**
 * `GET /share/{id}`: a shared conversation as a read-only page, rendered here, with no script
 * at all: its policy allows only this origin's stylesheet. Every text from the conversation is
 * HTML-escaped. Not cached anywhere, so a revoked link is gone at once.
 */
import escapeHtml from 'escape-html';
import type { Plugin } from 'graphql-yoga';
import type { SharedConversation } from '../conversations/shares.ts';
import { AppError, ErrorCode } from '../errors.ts';
import type { Services } from '../services.ts';
import { webAssets } from './assets.ts';
import { htmlPage } from './page.ts';

const SHARE_ROUTE = /^\/share\/([^/]+)$/;

export const SHARE_PAGE_CSP = ["default-src 'none'", "style-src 'self'", "img-src 'self' data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join('; ');

const WHO: Record<string, string> = { user: 'User', assistant: 'Assistant', system: 'System' };

function page(title: string, stylesheet: string, body: string): string {
  return htmlPage({ title: escapeHtml(title), stylesheet, head: '<meta name="robots" content="noindex">\n', body: `<main class="shared">\n${body}\n</main>` });
}

export function renderSharePage({ share, messages }: SharedConversation, stylesheet: string): string {
  const items = messages
    .map(
      (m) =>
        `<li class="message ${escapeHtml(m.role)}"><div class="meta"><span class="who">${WHO[m.role] ?? escapeHtml(m.role)}</span></div><div class="content">${escapeHtml(m.content)}</div></li>`,
    )
    .join('\n');
  return page(
    `${share.title} · shared from gptql`,
    stylesheet,
    `<h1>${escapeHtml(share.title)}</h1>
<p class="hint">A read-only copy, shared on <time datetime="${share.createdAt}">${share.createdAt.slice(0, 10)}</time>.</p>
<ol class="log">
${items}
</ol>`,
  );
}

export function sharePagePlugin(services: Services): Plugin {
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      const match = SHARE_ROUTE.exec(url.pathname);
      if (!match || (request.method !== 'GET' && request.method !== 'HEAD')) return;
      const stylesheet = (await webAssets()).style.path;
      const respond = (status: number, html: string) =>
        endResponse(
          new fetchAPI.Response(request.method === 'HEAD' ? null : html, {
            status,
            headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': SHARE_PAGE_CSP, 'cache-control': 'no-store', 'x-robots-tag': 'noindex' },
          }),
        );
      try {
        respond(200, renderSharePage(await services.conversations.shares.read(match[1]!), stylesheet));
      } catch (error) {
        if (error instanceof AppError && error.code === ErrorCode.NOT_FOUND) {
          return respond(404, page('Not found · gptql', stylesheet, '<h1>Not found</h1>\n<p>This link was revoked, or never existed.</p>'));
        }
        services.logger.error({ err: error, path: url.pathname }, 'share page failed');
        return respond(500, page('Error · gptql', stylesheet, '<h1>Something went wrong</h1>'));
      }
    },
  };
}
