/**
 * The part of the Hugging Face Hub's HTTP API `model pull` uses: a repository's file listing at
 * a revision, and its files through `resolve/`, whose large (LFS, Xet) files redirect to a CDN.
 * Field names follow huggingface_hub's `hf_api.py` (`RepoSibling`, `BlobLfsInfo`), error
 * classification the `X-Error-Code` header its `utils/_http.py` reads.
 *
 * Written by hand over Node's fetch: the Hub's own JS client (@huggingface/hub) is not a
 * dependency, and what is needed here is two GET requests; the resume and verification logic
 * (download.ts) would be ours with any client.
 */
import { z } from 'zod';
import { PullError, PullErrorCode, describeNetworkError } from './errors.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** One file of a repository, as the listing announces it. */
export interface HubFile {
  /** Path inside the repository, `/`-separated. */
  path: string;
  size?: number;
  /** SHA-256 of the content, for files stored with LFS (or Xet, which announces the same). */
  sha256?: string;
  /** Git blob id (SHA-1 of `blob <size>\0<content>`), for files stored in git itself. */
  gitBlobId?: string;
}

export interface RepoListing {
  repo: string;
  revision: string;
  /** The commit the revision pointed to: files are fetched at it, so a push mid-pull cannot mix versions. */
  commit?: string;
  /** Gated repositories list their files to anyone but serve them only to accepted accounts. */
  gated: boolean;
  files: HubFile[];
}

export interface HubClientOptions {
  endpoint?: string;
  token?: string;
}

/** HF_ENDPOINT and HF_TOKEN, the names huggingface_hub and transformers.js read. */
export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): HubClientOptions {
  return { endpoint: env.HF_ENDPOINT?.trim() || undefined, token: env.HF_TOKEN?.trim() || undefined };
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*(?:\/[A-Za-z0-9][\w.-]*)?$/;

/** `org/name` (or a legacy `name`) with the characters the Hub allows; nothing that walks out of a folder. */
export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..') || repo.length > 96) {
    throw new PullError(PullErrorCode.BAD_ARGUMENT, `"${repo}" is not a Hub repository id (expected org/name, e.g. onnx-community/Qwen2.5-0.5B-Instruct)`);
  }
}

const Sibling = z.object({
  rfilename: z.string().min(1),
  size: z.number().int().nonnegative().optional(),
  blobId: z.string().optional(),
  lfs: z.object({ sha256: z.string(), size: z.number().int().nonnegative() }).nullish(),
});
const ModelInfo = z.object({
  sha: z.string().optional(),
  gated: z.unknown().optional(),
  siblings: z.array(Sibling),
});

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

export interface ErrorContext {
  repo: string;
  revision: string;
  /** The file being fetched; absent for the listing. */
  path?: string;
}

export class HubClient {
  readonly endpoint: string;
  private readonly origin: string;
  private readonly token: string | undefined;

  constructor(options: HubClientOptions = {}) {
    const endpoint = (options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
    try {
      this.origin = new URL(endpoint).origin;
    } catch {
      throw new PullError(PullErrorCode.BAD_ARGUMENT, `HF_ENDPOINT "${endpoint}" is not a URL`);
    }
    this.endpoint = endpoint;
    this.token = options.token;
  }

  get hasToken(): boolean {
    return this.token !== undefined;
  }

  /** The model's page, where gated models are accepted. */
  pageUrl(repo: string): string {
    return `${this.endpoint}/${repo}`;
  }

  fileUrl(repo: string, revision: string, path: string): string {
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return `${this.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encoded}`;
  }

  async listFiles(repo: string, revision: string, signal?: AbortSignal): Promise<RepoListing> {
    checkRepoId(repo);
    const context = { repo, revision };
    const url = `${this.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
    let res: Response;
    try {
      res = await this.get(url, { signal, accept: 'application/json' });
    } catch (error) {
      if (error instanceof PullError) throw error;
      throw new PullError(PullErrorCode.UNREACHABLE, `cannot reach ${this.endpoint}: ${describeNetworkError(error)}`, { cause: error });
    }
    if (!res.ok) throw await this.errorFor(res, context);
    let info: z.infer<typeof ModelInfo>;
    try {
      info = ModelInfo.parse(await res.json());
    } catch (error) {
      throw new PullError(PullErrorCode.HTTP_ERROR, `${this.endpoint} gave an unexpected file listing for ${repo}: ${(error as Error).message}`, { cause: error });
    }
    return {
      repo,
      revision,
      commit: info.sha,
      gated: typeof info.gated === 'string' || info.gated === true,
      files: info.siblings.map((s) => ({
        path: s.rfilename,
        size: s.lfs?.size ?? s.size,
        sha256: s.lfs?.sha256.toLowerCase(),
        gitBlobId: s.lfs ? undefined : s.blobId?.toLowerCase(),
      })),
    };
  }

  /**
   * GET, following redirects by hand so that the token goes only to the endpoint's own origin
   * and never to the CDN a file redirects to (nor to any other host).
   */
  async get(url: string, options: { range?: string; signal?: AbortSignal; accept?: string } = {}): Promise<Response> {
    let current = new URL(url);
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      // Uncompressed, as huggingface_hub asks too: sizes and Range offsets must be the file's own bytes.
      const headers: Record<string, string> = { 'user-agent': 'gptql-model-pull', 'accept-encoding': 'identity' };
      if (options.accept) headers.accept = options.accept;
      if (options.range) headers.range = options.range;
      if (this.token && current.origin === this.origin) headers.authorization = `Bearer ${this.token}`;
      const res = await fetch(current, { headers, redirect: 'manual', signal: options.signal });
      const location = res.headers.get('location');
      if (!REDIRECTS.has(res.status) || !location) return res;
      await res.body?.cancel();
      current = new URL(location, current);
    }
    throw new PullError(PullErrorCode.HTTP_ERROR, `more than ${MAX_REDIRECTS} redirects fetching ${url}`);
  }

  /** The error a failed answer means, in words that say what to do. Consumes the body. */
  async errorFor(res: Response, context: ErrorContext): Promise<PullError> {
    const code = res.headers.get('x-error-code');
    const message = res.headers.get('x-error-message') ?? '';
    await res.body?.cancel().catch(() => undefined);
    const { repo, revision, path } = context;
    const page = this.pageUrl(repo);
    if (code === 'RevisionNotFound') {
      return new PullError(PullErrorCode.REVISION_NOT_FOUND, `no revision "${revision}" in ${repo} on ${this.endpoint}`);
    }
    if (code === 'EntryNotFound' || (res.status === 404 && path && code !== 'RepoNotFound')) {
      return new PullError(PullErrorCode.FILE_NOT_FOUND, `${repo} has no ${path} at revision ${revision} on ${this.endpoint}`);
    }
    if (res.status === 401 && this.token && /invalid credentials/i.test(message)) {
      return new PullError(PullErrorCode.BAD_TOKEN, `${this.endpoint} refused HF_TOKEN (invalid or expired): create a new one at ${this.endpoint}/settings/tokens`);
    }
    // The Hub answers 401 RepoNotFound for private repositories too, so as not to tell who has which.
    if (code === 'RepoNotFound' || res.status === 404) {
      return new PullError(
        PullErrorCode.REPO_NOT_FOUND,
        this.token
          ? `no model ${repo} on ${this.endpoint} (or it is private and HF_TOKEN has no access to it)`
          : `no model ${repo} on ${this.endpoint} (or it is private: set HF_TOKEN)`,
      );
    }
    if (code === 'GatedRepo' || res.status === 401 || res.status === 403) return this.accessDenied(repo, page);
    return new PullError(
      PullErrorCode.HTTP_ERROR,
      `${this.endpoint} answered ${res.status} ${res.statusText} for ${path ?? 'the file listing'} of ${repo}${message ? `: ${message}` : ''}`,
    );
  }

  accessDenied(repo: string, page = this.pageUrl(repo)): PullError {
    return new PullError(
      PullErrorCode.ACCESS_DENIED,
      this.token
        ? `HF_TOKEN has no access to ${repo}: accept the licence on ${page} with the account the token belongs to (gated models may also wait for approval)`
        : `${repo} is gated or private: set HF_TOKEN to an access token of an account that has accepted the licence on ${page}`,
    );
  }
}
