/** Uploading and downloading files the way a client does: GraphQL multipart requests, then GET. */
import { print, type GraphQLFormattedError } from 'graphql';
import { UploadFileDocument, type UploadFileMutation } from '../../src/generated/graphql.ts';
import type { GraphQLResponse, TestApp } from './harness.ts';

/** UPLOAD_MAX_BYTES in file tests: small, so that the limit costs no time to reach. */
export const UPLOAD_LIMIT = 64 * 1024;

/** Sends `bytes` as the `file` variable of `uploadFile` (GraphQL multipart request spec). */
export async function upload(t: Pick<TestApp, 'url'>, token: string, bytes: Uint8Array<ArrayBuffer>, name: string, type = 'application/octet-stream'): Promise<GraphQLResponse<UploadFileMutation>> {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: print(UploadFileDocument), variables: { file: null } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new Blob([bytes], { type }), name);
  const response = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'x-graphql-csrf': '1', accept: 'application/graphql-response+json' },
    body: form,
  });
  const json = (await response.json()) as { data?: UploadFileMutation; errors?: GraphQLFormattedError[] };
  return { status: response.status, ...json };
}

export const download = (t: Pick<TestApp, 'url'>, fileId: string, token: string) =>
  fetch(`${t.url}/files/${encodeURIComponent(fileId)}`, { headers: { authorization: `Bearer ${token}` } });

export const SAMPLES = {
  text: () => Buffer.from('Ship’s log, day 1: calm sea. Ελληνικά, кириллица, café.\n'.repeat(200)),
  png: () => Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'),
  elf: () => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]), Buffer.alloc(120, 0)]),
  pe: () => {
    const bytes = Buffer.alloc(256, 0);
    bytes.write('MZ', 0, 'latin1');
    bytes.writeUInt32LE(0x80, 0x3c);
    bytes.write('PE\0\0', 0x80, 'latin1');
    return bytes;
  },
  binary: () => Buffer.from([0x13, 0x37, 0x00, 0xff, 0xfe, 0x00, 0x01, 0x02, 0x03]),
  lateBadUtf8: () => Buffer.concat([Buffer.alloc(10_000, 'a'), Buffer.from([0xc3, 0x28]), Buffer.from('tail')]),
};
