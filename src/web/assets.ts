/**
 * The chat page's script and stylesheet, bundled by esbuild inside the server process on first
 * use and kept in memory. Building at run time (rather than in `npm run build`) means `npm start`
 * on a fresh clone serves the page with no extra step, and the bundle can never be stale against
 * the source it runs beside; it costs one build of about a tenth of a second per process.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export interface Asset {
  /** Path the page links to; it changes with the content, so it can be cached for ever. */
  path: string;
  contentType: string;
  body: Uint8Array;
  gzip: Uint8Array;
}

export interface WebAssets {
  script: Asset;
  style: Asset;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The client's source folder. From a compiled `dist/` the module sits elsewhere, so fall back to
 * the source tree under the working directory (the container ships both).
 */
function clientDir(): string {
  const candidates = [path.join(here, 'client'), path.resolve('src/web/client')];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'main.ts')));
  if (!found) throw new Error(`web client source not found in ${candidates.join(' or ')}`);
  return found;
}

function asset(name: string, extension: string, contentType: string, text: string): Asset {
  const body = new TextEncoder().encode(text);
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12);
  return { path: `/assets/${name}.${hash}.${extension}`, contentType, body, gzip: gzipSync(body, { level: 9 }) };
}

export async function buildWebAssets(): Promise<WebAssets> {
  // Loaded only when the page is first asked for: API-only processes never pay for esbuild.
  const esbuild = await import('esbuild');
  const dir = clientDir();
  const result = await esbuild.build({
    entryPoints: [path.join(dir, 'main.ts'), path.join(dir, 'style.css')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    write: false,
    outdir: 'out',
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const output = (extension: string) => {
    const file = result.outputFiles.find((f) => f.path.endsWith(extension));
    if (!file) throw new Error(`esbuild produced no ${extension} file`);
    return file.text;
  };
  return {
    script: asset('app', 'js', 'text/javascript; charset=utf-8', output('.js')),
    style: asset('app', 'css', 'text/css; charset=utf-8', output('.css')),
  };
}

let cached: Promise<WebAssets> | undefined;

/** One build per process; a failed build is retried on the next request rather than cached. */
export function webAssets(): Promise<WebAssets> {
  cached ??= buildWebAssets().catch((error: unknown) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
