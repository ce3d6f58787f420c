/**
 * The chat page's HTML shell and its Content-Security-Policy. The shell is static: the script
 * renders everything, so the page carries no inline script or style and the policy can forbid
 * both.
 */
import type { WebAssets } from './assets.ts';

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

export function renderPage(assets: WebAssets): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>gptql chat</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assets.style.path}">
<script type="module" src="${assets.script.path}"></script>
</head>
<body>
<noscript>This chat page needs JavaScript. The API is at <a href="/graphql">/graphql</a>.</noscript>
<div id="app"></div>
</body>
</html>
`;
}
