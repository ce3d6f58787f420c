/**
 * Files in a local directory (embedded default: `DATA_DIR/files`). Bytes are written to a
 * temporary name beside the target and renamed once complete, so that a refused or broken upload
 * never leaves a partial file under its key.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey, type FileStorage } from './storage.ts';

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

export function createLocalStorage(root: string): FileStorage {
  const pathOf = (key: string) => path.join(root, ...checkKey(key).split('/'));
  return {
    kind: 'local',
    async put(key, body) {
      const target = pathOf(key);
      await fs.mkdir(path.dirname(target), { recursive: true });
      const temporary = `${target}.${randomUUID()}.part`;
      const out = createWriteStream(temporary, { flags: 'wx' });
      try {
        await pipeline(body, out);
        await fs.rename(temporary, target);
      } catch (error) {
        // The stream opens its file asynchronously: removing it before the stream has closed
        // could run before the file exists, and leave it behind.
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
        await fs.rm(temporary, { force: true });
        throw error;
      }
    },
    async get(key): Promise<Readable | undefined> {
      const file = pathOf(key);
      try {
        // Opened before returning, so that a missing file is "not found", not a broken stream.
        const handle = await fs.open(file, 'r');
        return createReadStream(file, { fd: handle, autoClose: true });
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async delete(key) {
      await fs.rm(pathOf(key), { force: true });
    },
    async exists(key) {
      try {
        await fs.stat(pathOf(key));
        return true;
      } catch (error) {
        if (isMissing(error)) return false;
        throw error;
      }
    },
    close() {},
  };
}
