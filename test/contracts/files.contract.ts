/**
 * The file contract, run against each storage adapter (`files.test.ts`): the whole path from a
 * multipart `uploadFile` through sniffing and storage to `GET /files/:id` and `deleteFile`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteFileDocument, FileDocument, FilesDocument } from '../../src/generated/graphql.ts';
import { errorCodes, rawIdOf, type TestApp } from '../support/harness.ts';
import { download, upload, UPLOAD_LIMIT, SAMPLES } from '../support/files-helpers.ts';

export interface FileContractBed {
  /** An app whose file storage is the adapter under test, with UPLOAD_MAX_BYTES = UPLOAD_LIMIT. */
  start(): Promise<TestApp>;
  /** Object keys the adapter holds under a user's prefix, read from the backend directly. */
  storedKeys(t: TestApp, userId: string): Promise<string[]>;
  stop?(): Promise<void>;
}

export function fileStorageContract(name: string, bed: FileContractBed): void {
  describe(`files on ${name}`, () => {
    let t: TestApp;
    let user: Awaited<ReturnType<TestApp['newUser']>>;
    beforeAll(async () => {
      t = await bed.start();
      user = await t.newUser();
    });
    afterAll(async () => {
      await t.stop();
      await bed.stop?.();
    });

    it('uploads, lists, gets, downloads identical bytes, deletes (object gone)', async () => {
      const text = SAMPLES.text();
      const uploaded = await upload(t, user.accessToken, text, 'notes.txt');
      expect(uploaded.errors).toBeUndefined();
      const file = uploaded.data!.uploadFile;
      expect(file).toMatchObject({ name: 'notes.txt', contentType: 'text/plain', size: text.byteLength, downloadPath: `/files/${encodeURIComponent(file.id)}` });

      const listed = (await t.gql(FilesDocument, { first: 10 }, user.accessToken)).data!.files.edges.map((e) => e.node.id);
      expect(listed).toContain(file.id);
      expect((await t.gql(FileDocument, { id: file.id }, user.accessToken)).data!.file).toEqual(file);

      const response = await download(t, file.id, user.accessToken);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="notes.txt"/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(Buffer.from(await response.arrayBuffer()).equals(text)).toBe(true);
      expect(await bed.storedKeys(t, user.userId)).toEqual([`${user.userId}/${rawIdOf(file.id)}`]);

      expect((await t.gql(DeleteFileDocument, { id: file.id }, user.accessToken)).data!.deleteFile).toBe(file.id);
      expect(await t.app.services.files.storage.exists(`${user.userId}/${rawIdOf(file.id)}`)).toBe(false);
      expect(await bed.storedKeys(t, user.userId)).toEqual([]);
      expect(errorCodes(await t.gql(FileDocument, { id: file.id }, user.accessToken))).toEqual(['NOT_FOUND']);
      expect((await download(t, file.id, user.accessToken)).status).toBe(404);
    });

    it('refuses a file over UPLOAD_MAX_BYTES and stores nothing, read or declared', async () => {
      const other = await t.newUser();
      // One byte over: refused while the part is read.
      const justOver = await upload(t, other.accessToken, Buffer.alloc(UPLOAD_LIMIT + 1, 'a'), 'big.txt');
      expect(errorCodes(justOver)).toEqual(['BAD_USER_INPUT']);
      // Far over: refused from Content-Length before the body is read.
      const farOver = await upload(t, other.accessToken, Buffer.alloc(UPLOAD_LIMIT + 200_000, 'a'), 'bigger.txt');
      expect(farOver.status).toBe(413);
      expect(errorCodes(farOver)).toEqual(['BAD_USER_INPUT']);
      expect(await bed.storedKeys(t, other.userId)).toEqual([]);
      expect((await t.gql(FilesDocument, {}, other.accessToken)).data!.files.edges).toEqual([]);
      // Exactly at the limit is fine.
      expect((await upload(t, other.accessToken, Buffer.alloc(UPLOAD_LIMIT, 'a'), 'ok.txt')).errors).toBeUndefined();
    });

    it('types a file by its bytes: a PNG named .txt is stored as image/png', async () => {
      const png = SAMPLES.png();
      const file = (await upload(t, user.accessToken, png, 'holiday.txt', 'text/plain')).data!.uploadFile;
      expect(file.contentType).toBe('image/png');
      const response = await download(t, file.id, user.accessToken);
      expect(response.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await response.arrayBuffer()).equals(png)).toBe(true);
    });

    it.each([
      ['an ELF executable', SAMPLES.elf(), 'tool.txt'],
      ['a Windows executable', SAMPLES.pe(), 'setup.pdf'],
      ['binary bytes of no known type', SAMPLES.binary(), 'data.txt'],
      ['text with invalid UTF-8 after the first 4 KiB', SAMPLES.lateBadUtf8(), 'late.txt'],
    ])('refuses %s and stores nothing', async (_what, bytes, fileName) => {
      const other = await t.newUser();
      const response = await upload(t, other.accessToken, bytes, fileName);
      expect(errorCodes(response)).toEqual(['BAD_USER_INPUT']);
      expect(await bed.storedKeys(t, other.userId)).toEqual([]);
      expect((await t.gql(FilesDocument, {}, other.accessToken)).data!.files.edges).toEqual([]);
    });

    it('sanitises names', async () => {
      const file = (await upload(t, user.accessToken, Buffer.from('x'), '../../etc/pa\u202Ess:wd.md')).data!.uploadFile;
      expect(file.name).toBe('pass_wd.md');
      expect(file.contentType).toBe('text/markdown');
    });
  });
}
