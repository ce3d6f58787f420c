/**
 * `model pull`: the files one dtype needs, from a Hub repository into a model folder.
 *
 * Files go into `<out>.partial` beside the destination (same filesystem, so the final rename is
 * atomic) and the folder is renamed into place only once every file has its announced size and
 * hash. A network failure or a full disk keeps the partial folder, and the same command resumes
 * it; any other failure removes it, so nothing half-made is left to be mistaken for a model.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MODEL_DTYPES, type ModelDtype } from '../../src/inference/model-variants.ts';
import { HubClient, checkRepoId, hubOptionsFromEnv, type HubFile } from './client.ts';
import { downloadFile, usableBytes, type DownloadResult } from './download.ts';
import { PullError, PullErrorCode, RESUMABLE, formatBytes } from './errors.ts';
import { selectFiles } from './select.ts';

export const DEFAULT_REVISION = 'main';

/** Written in the partial folder: which pull its files belong to. */
const STATE_FILE = '.gptql-pull.json';

export interface PlannedFile extends HubFile {
  /** Bytes already in the partial folder from an earlier run. */
  have: number;
}

export interface PullPlan {
  repo: string;
  revision: string;
  commit?: string;
  dtype: ModelDtype;
  out: string;
  partial: string;
  files: PlannedFile[];
  /** Sum of the announced sizes (files without one count 0). */
  totalBytes: number;
  haveBytes: number;
}

export interface PullEvents {
  plan?(plan: PullPlan): void;
  bytes?(delta: number, file: PlannedFile): void;
  fileDone?(file: PlannedFile, result: DownloadResult): void;
}

export interface PullOptions {
  /** `org/name` on the Hub. */
  repo: string;
  revision?: string;
  dtype?: ModelDtype;
  /** The model folder to create. */
  out: string;
  /** Replace an existing folder at `out` (only once the new one is complete). */
  force?: boolean;
  /** Default: HF_ENDPOINT and HF_TOKEN from the environment. */
  client?: HubClient;
  events?: PullEvents;
  retries?: number;
  retryDelayMs?: number;
  idleTimeoutMs?: number;
  /** Free bytes on the filesystem holding `dir` (tests shrink the disk with it). */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface PullResult {
  dir: string;
  commit?: string;
  files: { path: string; size: number }[];
  /** Bytes this run fetched (less than the total when it resumed). */
  received: number;
}

interface PullState {
  endpoint: string;
  repo: string;
  /** The commit when the listing names one, else the revision asked for. */
  revision: string;
  dtype: ModelDtype;
}

async function diskFree(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

function nearestExisting(dir: string): string {
  let current = dir;
  while (!existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

/** Keeps an earlier run's partial folder if it was for the same files; refuses one we did not make. */
async function adoptPartial(partial: string, state: PullState): Promise<void> {
  if (!existsSync(partial)) return;
  let previous: Partial<PullState> | undefined;
  try {
    previous = JSON.parse(await readFile(path.join(partial, STATE_FILE), 'utf8')) as Partial<PullState>;
  } catch {
    previous = undefined;
  }
  if (!previous) {
    if ((await readdir(partial)).length === 0) return;
    throw new PullError(PullErrorCode.PARTIAL_NOT_OURS, `${partial} exists but was not left by model pull: remove it or choose another --out`);
  }
  const same = previous.endpoint === state.endpoint && previous.repo === state.repo && previous.revision === state.revision && previous.dtype === state.dtype;
  // Another revision or dtype: its files may differ under the same names.
  if (!same) await rm(partial, { recursive: true, force: true });
}

export async function pullModel(options: PullOptions): Promise<PullResult> {
  const { repo, revision = DEFAULT_REVISION, dtype = 'fp32', force = false, events = {} } = options;
  checkRepoId(repo);
  if (!MODEL_DTYPES.includes(dtype)) throw new PullError(PullErrorCode.BAD_ARGUMENT, `--dtype must be one of ${MODEL_DTYPES.join(', ')}`);
  const client = options.client ?? new HubClient(hubOptionsFromEnv());
  const out = path.resolve(options.out);
  const partial = `${out}.partial`;
  if (existsSync(out) && !force) {
    throw new PullError(PullErrorCode.DESTINATION_EXISTS, `${out} already exists: pass --force to replace it, or choose another --out`);
  }

  const listing = await client.listFiles(repo, revision);
  if (listing.gated && !client.hasToken) throw client.accessDenied(repo);
  const selected = selectFiles(repo, listing.files, dtype);
  const state: PullState = { endpoint: client.endpoint, repo, revision: listing.commit ?? revision, dtype };
  await adoptPartial(partial, state);

  const files: PlannedFile[] = [];
  for (const file of selected) files.push({ ...file, have: usableBytes(await sizeOf(path.join(partial, file.path)), file) });
  const totalBytes = files.reduce((sum, f) => sum + (f.size ?? 0), 0);
  const haveBytes = files.reduce((sum, f) => sum + f.have, 0);
  const needed = totalBytes - haveBytes;
  const where = nearestExisting(path.dirname(partial));
  const free = await (options.freeBytes ?? diskFree)(where);
  if (needed > free) {
    throw new PullError(PullErrorCode.DISK_FULL, `not enough disk space for ${repo} (${dtype}): it needs ${formatBytes(needed)}, ${formatBytes(free)} is free on ${where}`);
  }

  await mkdir(partial, { recursive: true });
  await writeFile(path.join(partial, STATE_FILE), JSON.stringify(state, null, 2));
  events.plan?.({ repo, revision, commit: listing.commit, dtype, out, partial, files, totalBytes, haveBytes });

  const done: PullResult['files'] = [];
  let received = 0;
  try {
    for (const file of files) {
      const target = path.join(partial, file.path);
      await mkdir(path.dirname(target), { recursive: true });
      const result = await downloadFile(file, client.fileUrl(repo, state.revision, file.path), target, {
        client,
        context: { repo, revision },
        retries: options.retries,
        retryDelayMs: options.retryDelayMs,
        idleTimeoutMs: options.idleTimeoutMs,
        onBytes: (delta) => events.bytes?.(delta, file),
      });
      received += result.received;
      done.push({ path: file.path, size: result.size });
      events.fileDone?.(file, result);
    }
  } catch (error) {
    if (error instanceof PullError && RESUMABLE.has(error.code)) {
      throw new PullError(error.code, `${error.message}\nThe partial download is kept in ${partial}: run the same command again to resume.`, { cause: error });
    }
    await rm(partial, { recursive: true, force: true });
    if (error instanceof PullError) throw new PullError(error.code, `${error.message} (nothing was kept)`, { cause: error });
    throw error;
  }

  await rm(path.join(partial, STATE_FILE));
  if (existsSync(out)) {
    // --force: the old folder goes only once the new one is whole.
    const old = `${out}.replaced-${process.pid}`;
    await rename(out, old);
    await rename(partial, out);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(partial, out);
  }
  return { dir: out, commit: listing.commit, files: done, received };
}
