/**
 * Serves the chat page at `/` and its bundle under `/assets/`, from the same process as the API
 * (a yoga `onRequest` plugin, like the other non-GraphQL routes).
 */
import type { Plugin } from 'graphql-yoga';
import { webAssets, type Asset } from './assets.ts';
import { PAGE_CSP, renderPage } from './page.ts';
import type { PersistedOperationsMode } from '../server/persisted-operations.ts';

/** Asset names carry a content hash, so a browser may keep them as long as it likes. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

function acceptsGzip(request: Request): boolean {
  return /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
}

export function webPagePlugin(persistedOperations: PersistedOperationsMode): Plugin {
  return {
    async onRequest({ url, request, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      if (url.pathname !== '/' && !url.pathname.startsWith('/assets/')) return;
      const assets = await webAssets();
      if (url.pathname === '/') {
        return endResponse(
          new fetchAPI.Response(request.method === 'HEAD' ? null : renderPage(assets, persistedOperations), {
            headers: {
              'content-type': 'text/html; charset=utf-8',
              // The shell names the current bundle: revalidate it on every load.
              'cache-control': 'no-cache',
              'content-security-policy': PAGE_CSP,
            },
          }),
        );
      }
      const asset: Asset | undefined = [assets.script, assets.style].find((a) => a.path === url.pathname);
      if (!asset) {
        return endResponse(new fetchAPI.Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } }));
      }
      const gzip = acceptsGzip(request);
      // Node's Uint8Array types are wider than BodyInit's; the bytes are what the Response wants.
      const body = (gzip ? asset.gzip : asset.body) as Uint8Array<ArrayBuffer>;
      return endResponse(
        new fetchAPI.Response(request.method === 'HEAD' ? null : body, {
          headers: {
            'content-type': asset.contentType,
            'cache-control': IMMUTABLE,
            'content-length': String(body.byteLength),
            vary: 'accept-encoding',
            ...(gzip ? { 'content-encoding': 'gzip' } : {}),
          },
        }),
      );
    },
  };
}
