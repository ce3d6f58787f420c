/**
 * For tests: a real HTTP server that serves model folders under the Hub's URL layout, with a
 * second one as the CDN its large files redirect to (another origin, as on huggingface.co).
 *
 * - `GET /api/models/{repo}/revision/{rev}`: the listing, `siblings` with `size`, `blobId`
 *   and, for LFS files, `lfs: { sha256, size, pointerSize }`.
 * - `GET /{repo}/resolve/{rev}/{path}`: small files served here; LFS files 302 to the CDN.
 * - Errors as the Hub answers them: 404 or 401 with `X-Error-Code` RepoNotFound (private repos
 *   look missing), GatedRepo 401/403, RevisionNotFound, EntryNotFound, 401 for a bad token.
 * - Faults to inject per repository path: cut the connection, fall silent, corrupt a byte, ignore Range.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface FakeRepo {
  dir: string;
  /** Listed to anyone; files only with one of `tokens`. */
  gated?: boolean;
  /** Nothing without one of `tokens`. */
  private?: boolean;
  tokens?: string[];
}

export interface FakeHubOptions {
  repos: Record<string, FakeRepo>;
  /** Tokens the hub knows; others are refused as invalid credentials. */
  tokens?: string[];
}

export interface SeenRequest {
  server: 'hub' | 'cdn';
  path: string;
  /** The repository path served, when one was. */
  file?: string;
  range?: string;
  authorization?: string;
  status: number;
}

export interface FakeHub {
  endpoint: string;
  cdn: string;
  /** The commit `main` points to in every repository. */
  commit: string;
  requests: SeenRequest[];
  /** Repository path → bytes the next answer for it sends before the connection is cut. */
  cutAfter: Map<string, number>;
  /** Repository path → bytes the next answer for it sends before it falls silent (the connection stays open). */
  stallAfter: Map<string, number>;
  /** Repository paths served with one byte flipped. */
  corrupt: Set<string>;
  /** Repository paths whose server answers 200 with the whole file whatever the Range. */
  ignoreRange: Set<string>;
  close(): Promise<void>;
}

const isLfs = (file: string) => /\.(onnx|onnx_data|onnx\.data|safetensors)(_\d+)?$/.test(file);

interface Entry {
  path: string;
  content: Buffer;
  sha256: string;
}

function walk(dir: string, prefix = ''): Entry[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const rel = prefix + d.name;
    if (d.isDirectory()) return walk(path.join(dir, d.name), `${rel}/`);
    const content = readFileSync(path.join(dir, d.name));
    return [{ path: rel, content, sha256: createHash('sha256').update(content).digest('hex') }];
  });
}

const gitBlobId = (content: Buffer) => createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startFakeHub(options: FakeHubOptions): Promise<FakeHub> {
  const commit = createHash('sha1').update('fake-hub').digest('hex');
  const repos = new Map(Object.entries(options.repos).map(([id, repo]) => [id, { ...repo, entries: walk(repo.dir) }]));
  const known = new Set(options.tokens ?? []);
  const requests: SeenRequest[] = [];
  const cutAfter = new Map<string, number>();
  const stallAfter = new Map<string, number>();
  const corrupt = new Set<string>();
  const ignoreRange = new Set<string>();
  const bySha = new Map<string, Entry>();
  for (const repo of repos.values()) for (const e of repo.entries) bySha.set(e.sha256, e);

  const fail = (res: ServerResponse, status: number, code?: string, message?: string) => {
    if (code) res.setHeader('x-error-code', code);
    if (message) res.setHeader('x-error-message', message);
    res.statusCode = status;
    res.end(JSON.stringify({ error: message ?? code ?? String(status) }));
  };

  const serve = (req: IncomingMessage, res: ServerResponse, entry: Entry, seen: SeenRequest) => {
    seen.file = entry.path;
    let body = entry.content;
    if (corrupt.has(entry.path)) {
      body = Buffer.from(body);
      body[body.length >> 1]! ^= 0xff;
    }
    const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let slice = body;
    if (match && !ignoreRange.has(entry.path)) {
      const start = Number(match[1]);
      if (start >= body.length) return fail(res, 416);
      slice = body.subarray(start);
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    }
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('content-length', slice.length);
    const stall = stallAfter.get(entry.path);
    if (stall !== undefined) {
      stallAfter.delete(entry.path);
      return res.write(slice.subarray(0, stall));
    }
    const cut = cutAfter.get(entry.path);
    if (cut === undefined) return res.end(slice);
    cutAfter.delete(entry.path);
    // Cut once the client has had time to take the bytes in: an interruption mid-file, not at its start.
    res.write(slice.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 100));
  };

  /** Notes a request and, once answered, its status, for the tests to inspect. */
  const record = (server: SeenRequest['server'], url: URL, req: IncomingMessage, res: ServerResponse): SeenRequest => {
    const seen: SeenRequest = { server, path: url.pathname, range: req.headers.range, authorization: req.headers.authorization, status: 0 };
    requests.push(seen);
    res.on('finish', () => (seen.status = res.statusCode));
    res.on('close', () => (seen.status ||= res.statusCode));
    return seen;
  };

  const hub = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    const seen = record('hub', url, req, res);

    const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repoId = api?.[1] ?? resolve?.[1];
    const revision = decodeURIComponent(api?.[2] ?? resolve?.[2] ?? '');
    const repo = repoId ? repos.get(repoId) : undefined;

    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer !== undefined && !known.has(bearer)) return fail(res, 401, undefined, 'Invalid credentials in Authorization header');
    const allowed = bearer !== undefined && (repo?.tokens ?? []).includes(bearer);
    if (!repo || (repo.private && !allowed)) return fail(res, bearer ? 404 : 401, 'RepoNotFound', 'Repository not found');
    if (revision !== 'main' && revision !== commit) return fail(res, 404, 'RevisionNotFound', 'Invalid rev id');

    if (api) {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({
          id: repoId,
          sha: commit,
          gated: repo.gated ? 'auto' : false,
          siblings: repo.entries.map((e) =>
            isLfs(e.path)
              ? { rfilename: e.path, size: e.content.length, blobId: gitBlobId(Buffer.from(`lfs ${e.sha256}`)), lfs: { sha256: e.sha256, size: e.content.length, pointerSize: 134 } }
              : { rfilename: e.path, size: e.content.length, blobId: gitBlobId(e.content) },
          ),
        }),
      );
    }
    if (resolve) {
      if (repo.gated && !allowed) return fail(res, bearer ? 403 : 401, 'GatedRepo', 'Access to model is restricted');
      const file = resolve[3]!.split('/').map(decodeURIComponent).join('/');
      const entry = repo.entries.find((e) => e.path === file);
      if (!entry) return fail(res, 404, 'EntryNotFound', 'Entry not found');
      res.setHeader('x-repo-commit', commit);
      if (isLfs(file)) {
        res.statusCode = 302;
        res.setHeader('location', `${cdnOrigin}/cdn/${entry.sha256}`);
        return res.end();
      }
      return serve(req, res, entry, seen);
    }
    fail(res, 404);
  });

  const cdnServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://cdn');
    const seen = record('cdn', url, req, res);
    const entry = bySha.get(url.pathname.replace(/^\/cdn\//, ''));
    if (!entry) return fail(res, 404);
    serve(req, res, entry, seen);
  });

  const endpoint = await listen(hub);
  const cdnOrigin = await listen(cdnServer);
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    endpoint,
    cdn: cdnOrigin,
    commit,
    requests,
    cutAfter,
    stallAfter,
    corrupt,
    ignoreRange,
    close: async () => {
      await Promise.all([close(hub), close(cdnServer)]);
    },
  };
}
