/** The chat page as HTTP serves it: headers, caching, and the size of its script. */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/support/harness.ts';
import { buildWebAssets } from './assets.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.stop());

describe('web page', () => {
  it('keeps the script bundle under 150 KB gzipped', async () => {
    const { script, style } = await buildWebAssets();
    expect(gzipSync(script.body).byteLength).toBeLessThan(150 * 1024);
    expect(style.body.byteLength).toBeGreaterThan(0);
  });

  it('serves the page with its own strict CSP, revalidated on each load, and the usual security headers', async () => {
    const response = await fetch(`${t.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    const html = await response.text();
    expect(html).toMatch(/<script type="module" src="\/assets\/app\.[\w-]+\.js">/);
  });

  it('serves hashed assets for ever, gzipped when asked, and 404 for any other asset name', async () => {
    const html = await (await fetch(`${t.url}/`)).text();
    const [script, style] = [/src="([^"]+\.js)"/.exec(html)?.[1], /href="([^"]+\.css)"/.exec(html)?.[1]];
    for (const [path, type] of [[script, 'text/javascript'], [style, 'text/css']] as const) {
      const response = await fetch(`${t.url}${path}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain(type);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(response.headers.get('content-encoding')).toBe('gzip');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect((await fetch(`${t.url}/assets/app.nothing.js`)).status).toBe(404);
  });

  it('leaves the API responses their data-only policy', async () => {
    const response = await fetch(`${t.url}/health`);
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  });
});
