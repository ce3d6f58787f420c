/**
 * The chat page's HTML shell and its Content-Security-Policy. The shell is static: the script
 * renders everything, so the page carries no inline script or style and the policy can forbid
 * both.
 */
import type { WebAssets } from './assets.ts';
import type { PersistedOperationsMode } from '../server/persisted-operations.ts';

/**
 * Only this origin's script and stylesheet run; the page talks to this origin over HTTP and
 * WebSocket (CSP 3 lets 'self' match ws:/wss: on the same host, which Chromium, Firefox and
 * Safari implement); exports are saved through blob: URLs, which navigation to a download needs
 * no directive for. No frames, no forms posting elsewhere, no <base> rewriting.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * A whole page around `body`: `head` is what goes after the shared head (the title is escaped by
 * the caller), with this origin's stylesheet.
 */
export function htmlPage(options: { title: string; stylesheet: string; head?: string; body: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${options.title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${options.stylesheet}">
${options.head ?? ''}</head>
<body>
${options.body}
</body>
</html>
`;
}

/**
 * The page shell. It tells the script how to send operations (PERSISTED_OPERATIONS): by their
 * hash unless the server runs documents only.
 */
export function renderPage(assets: WebAssets, persistedOperations: PersistedOperationsMode): string {
  return htmlPage({
    title: 'gptql chat',
    stylesheet: assets.style.path,
    head: `<meta name="gptql-persisted-operations" content="${persistedOperations}">\n<script type="module" src="${assets.script.path}"></script>\n`,
    body: '<noscript>This chat page needs JavaScript. The API is at <a href="/graphql">/graphql</a>.</noscript>\n<div id="app"></div>',
  });
}
