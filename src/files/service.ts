/**
 * Uploads, downloads and deletion of a user's files: the bytes go through type sniffing and a
 * size count on their way into storage, and the metadata record is written only once the bytes
 * are safely stored. Any refusal leaves nothing behind.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { badInput, notFound } from '../errors.ts';
import type { FileRecord, FileRepository } from '../store/files.ts';
import { isId, newId } from '../store/ids.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import { sanitizeFileName } from './names.ts';
import { SNIFF_BYTES, TextChecker, isTextType, sniff } from './sniff.ts';
import type { FileStorage } from './storage.ts';

export interface UploadSource {
  name: string | undefined;
  body: AsyncIterable<Uint8Array>;
}

export class FileService {
  constructor(
    readonly storage: FileStorage,
    private readonly records: FileRepository,
    readonly maxUploadBytes: number,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  async upload(userId: string, source: UploadSource): Promise<FileRecord> {
    const name = sanitizeFileName(source.name);
    const tooLarge = () => badInput(`File larger than ${this.maxUploadBytes} bytes`, { argument: 'file', maxBytes: this.maxUploadBytes });
    const chunks = source.body[Symbol.asyncIterator]();
    let size = 0;
    const next = async (): Promise<Uint8Array | undefined> => {
      const { value, done } = await chunks.next();
      if (done) return undefined;
      size += value.byteLength;
      if (size > this.maxUploadBytes) throw tooLarge();
      return value;
    };

    // The head is read before anything is stored, so that a refused type stores nothing at all.
    const head: Uint8Array[] = [];
    let headBytes = 0;
    let ended = false;
    while (headBytes < SNIFF_BYTES) {
      const chunk = await next();
      if (!chunk) {
        ended = true;
        break;
      }
      head.push(chunk);
      headBytes += chunk.byteLength;
    }
    const headBuffer = Buffer.concat(head);
    if (headBuffer.byteLength === 0) throw badInput('The file is empty', { argument: 'file' });
    const sniffed = await sniff(headBuffer, name);
    const checker = sniffed.kind === 'text' ? new TextChecker() : undefined;

    async function* bytes(): AsyncGenerator<Uint8Array> {
      checker?.push(headBuffer);
      yield headBuffer;
      for (let chunk = ended ? undefined : await next(); chunk; chunk = await next()) {
        checker?.push(chunk);
        yield chunk;
      }
      checker?.end();
    }

    const fileId = newId();
    const storageKey = `${userId}/${fileId}`;
    await this.storage.put(storageKey, bytes(), sniffed.contentType);
    const record: FileRecord = { userId, fileId, name, contentType: sniffed.contentType, size, storageKey, createdAt: new Date().toISOString() };
    try {
      await this.records.put(record);
    } catch (error) {
      await this.storage.delete(storageKey);
      throw error;
    }
    return record;
  }

  /** The user's file, or NOT_FOUND (malformed id, deleted, someone else's). */
  async own(userId: string, fileId: string): Promise<FileRecord> {
    const record = isId(fileId) ? await this.records.get(userId, fileId) : undefined;
    if (!record) throw notFound('File');
    return record;
  }

  /** Checks that every id is one of the user's files; NOT_FOUND otherwise. */
  async ownAll(userId: string, fileIds: readonly string[]): Promise<FileRecord[]> {
    if (fileIds.some((id) => !isId(id))) throw notFound('File');
    const records = await this.records.getMany(userId, fileIds);
    if (records.some((record) => record === undefined)) throw notFound('File');
    return records as FileRecord[];
  }

  /** Records for display (e.g. a message's attachments): deleted files are left out. */
  async existing(userId: string, fileIds: readonly string[]): Promise<FileRecord[]> {
    const valid = fileIds.filter(isId);
    return (await this.records.getMany(userId, valid)).filter((record): record is FileRecord => record !== undefined);
  }

  list(userId: string, page: PageRequest): Promise<Page<FileRecord>> {
    return this.records.list(userId, page);
  }

  async open(userId: string, fileId: string): Promise<{ record: FileRecord; body: Readable }> {
    const record = await this.own(userId, fileId);
    const body = await this.storage.get(record.storageKey);
    if (!body) {
      // Listed but its bytes are gone (deleted from the bucket behind our back, a lost volume):
      // the user sees a missing file; the operator needs to hear of it.
      this.logger.warn({ userId, fileId, storageKey: record.storageKey }, 'stored file has no object in storage');
      throw notFound('File');
    }
    return { record, body };
  }

  /**
   * The bytes go first: if the process dies between the two steps, the file is still listed and
   * deleting it again finishes the job, rather than leaving bytes that nothing points to.
   */
  async delete(userId: string, fileId: string): Promise<void> {
    const record = await this.own(userId, fileId);
    await this.storage.delete(record.storageKey);
    if (!(await this.records.delete(userId, fileId))) throw notFound('File');
  }

  /**
   * Up to `maxChars` characters of a text file, reading no further than needed; undefined for
   * files that are not text (or are gone).
   */
  async readText(record: FileRecord, maxChars: number): Promise<{ text: string; truncated: boolean } | undefined> {
    if (!isTextType(record.contentType)) return undefined;
    const body = await this.storage.get(record.storageKey);
    if (!body) return undefined;
    const decoder = new TextDecoder('utf-8');
    let text = '';
    try {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > maxChars) return { text: cutAt(text, maxChars), truncated: true };
      }
      text += decoder.decode();
    } finally {
      body.destroy();
    }
    return text.length > maxChars ? { text: cutAt(text, maxChars), truncated: true } : { text, truncated: false };
  }
}

/** Cuts at `max` UTF-16 units without splitting a surrogate pair. */
function cutAt(text: string, max: number): string {
  const cut = text.slice(0, max);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}
