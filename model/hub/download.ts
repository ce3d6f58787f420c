/**
 * One file from the Hub into the temporary folder: resumed from what an earlier attempt left
 * (`Range: bytes=N-`, appended; started over when the server ignores the range), retried on
 * network failures, and checked against the size and hash the listing announced before it
 * counts as done.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorContext, HubClient, HubFile } from './client.ts';
import { PullError, PullErrorCode, describeNetworkError, formatBytes } from './errors.ts';

export interface DownloadOptions {
  client: HubClient;
  context: ErrorContext;
  /** Network failures tolerated in a row (a failure after some progress starts the count again). */
  retries?: number;
  /** First pause before a retry; doubled each time. */
  retryDelayMs?: number;
  /** A connection that sends nothing for this long is dropped and retried. */
  idleTimeoutMs?: number;
  /** Bytes added to (or, when a download starts over, taken from) the file. */
  onBytes?: (delta: number) => void;
}

export interface DownloadResult {
  size: number;
  /** Bytes already on disk from an earlier run when this one started. */
  resumedFrom: number;
  /** Bytes this run received. */
  received: number;
}

/** How much of a partial file counts as done: all of it, unless it cannot be a prefix of the file. */
export function usableBytes(have: number, file: HubFile): number {
  return file.size !== undefined && have <= file.size ? have : 0;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

interface Check {
  kind: string;
  expected: string;
  hash: Hash;
}

/** The hash the listing lets us check: LFS files' SHA-256, else git's blob id (SHA-1 over a header and the content). */
function newCheck(file: HubFile): Check | undefined {
  if (file.sha256) return { kind: 'sha256', expected: file.sha256, hash: createHash('sha256') };
  if (file.gitBlobId && file.size !== undefined) {
    const hash = createHash('sha1').update(`blob ${file.size}\0`);
    return { kind: 'git blob sha1', expected: file.gitBlobId, hash };
  }
  return undefined;
}

async function hashPrefix(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** A failure worth another attempt: the connection, a 5xx, a stall. */
class Transient extends Error {}

function contentRangeStart(header: string | null): number | undefined {
  const match = header && /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header.trim());
  return match ? Number(match[1]) : undefined;
}

export async function downloadFile(file: HubFile, url: string, target: string, options: DownloadOptions): Promise<DownloadResult> {
  const { client, retries = 3, retryDelayMs = 1000, idleTimeoutMs = 60_000 } = options;
  const onBytes = options.onBytes ?? (() => undefined);
  const name = file.path;
  const context = { ...options.context, path: name };

  let have = await sizeOf(target);
  let counted = usableBytes(have, file);
  if (counted === 0 && have > 0) {
    await rm(target, { force: true });
    have = 0;
  }
  let resumedFrom = have;
  let received = 0;
  let failures = 0;
  let useRange = true;

  const discard = async () => {
    await rm(target, { force: true });
    onBytes(-counted);
    counted = 0;
    have = 0;
    resumedFrom = 0;
  };

  const verify = async (check: Check | undefined): Promise<DownloadResult> => {
    const size = await sizeOf(target);
    if (file.size !== undefined && size !== file.size) {
      await discard();
      throw new PullError(PullErrorCode.SIZE_MISMATCH, `size mismatch for ${name}: expected ${file.size} bytes, got ${size}`);
    }
    if (check) {
      const actual = check.hash.digest('hex');
      if (actual !== check.expected) {
        await discard();
        throw new PullError(PullErrorCode.CHECKSUM_MISMATCH, `checksum mismatch for ${name}: expected ${check.kind} ${check.expected}, got ${actual}`);
      }
    }
    return { size, resumedFrom, received };
  };

  for (;;) {
    let check = newCheck(file);
    if (have > 0 && check) await hashPrefix(target, check.hash);
    // Complete from an earlier run (interrupted after this file): check it, fetch nothing.
    if (file.size !== undefined && have === file.size && (have > 0 || existsSync(target))) return verify(check);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const stall = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Transient(`no data for ${idleTimeoutMs / 1000} s`)), idleTimeoutMs);
    };
    let localError: unknown;
    const before = have;
    try {
      stall();
      const range = have > 0 && useRange ? `bytes=${have}-` : undefined;
      const res = await client.get(url, { range, signal: controller.signal });
      if (res.status >= 500 || res.status === 429) {
        await res.body?.cancel().catch(() => undefined);
        throw new Transient(`${res.status} ${res.statusText}`);
      }
      if (res.status === 416) {
        // What we hold is not a prefix of what the server has: start over.
        await res.body?.cancel().catch(() => undefined);
        await discard();
        useRange = false;
        continue;
      }
      if (!res.ok) throw await client.errorFor(res, context);
      let append = false;
      if (range && res.status === 206) {
        if (contentRangeStart(res.headers.get('content-range')) !== have) {
          await res.body?.cancel().catch(() => undefined);
          await discard();
          useRange = false;
          continue;
        }
        append = true;
      }
      if (!append && have > 0) {
        // The server ignored the range (200, whole file): the file starts over, and so does the hash.
        await discard();
        check = newCheck(file);
      }
      const out = createWriteStream(target, { flags: append ? 'a' : 'w' });
      out.once('error', (error) => (localError = error));
      const tap = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          stall();
          check?.hash.update(chunk);
          counted += chunk.length;
          have += chunk.length;
          received += chunk.length;
          onBytes(chunk.length);
          done(null, chunk);
        },
      });
      const body = res.body ? Readable.fromWeb(res.body as unknown as NodeReadableStream<Uint8Array>) : Readable.from([]);
      await pipeline(body, tap, out);
      if (file.size !== undefined && have < file.size) throw new Transient(`connection closed after ${formatBytes(have)} of ${formatBytes(file.size)}`);
      clearTimeout(timer);
      return await verify(check);
    } catch (error) {
      if (error instanceof PullError) throw error;
      // Node 24's pipeline destroys the file stream with the network's error too: only an error
      // of the file's own (ENOSPC…) is local.
      if (localError !== undefined && localError !== error) {
        if ((localError as NodeJS.ErrnoException).code === 'ENOSPC') {
          throw new PullError(PullErrorCode.DISK_FULL, `disk full writing ${name}`, { cause: localError });
        }
        throw localError;
      }
      const reason = error instanceof Transient ? error.message : describeNetworkError(controller.signal.reason instanceof Transient ? controller.signal.reason : error);
      // Bytes still in the write stream's buffer when it was torn down never reached the file.
      const onDisk = await sizeOf(target);
      onBytes(onDisk - counted);
      counted = onDisk;
      have = onDisk;
      if (usableBytes(have, file) !== have) await discard();
      failures = have > before ? 1 : failures + 1;
      if (failures > retries) {
        const of = file.size !== undefined ? ` of ${formatBytes(file.size)}` : '';
        throw new PullError(PullErrorCode.INTERRUPTED, `download of ${name} interrupted after ${formatBytes(have)}${of}: ${reason}`, { cause: error });
      }
      await sleep(retryDelayMs * 2 ** (failures - 1));
    } finally {
      clearTimeout(timer);
    }
  }
}
