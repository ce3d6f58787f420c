/**
 * The file contract against both storage adapters: the local directory (embedded default) and
 * S3, served by a real s3rver in this process (path-style addressing, as for MinIO).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { fileStorageContract } from '../contracts/files.contract.ts';
import { UPLOAD_LIMIT } from '../support/files-helpers.ts';
import { startTestApp } from '../support/harness.ts';

const limits = { UPLOAD_MAX_BYTES: String(UPLOAD_LIMIT) };

fileStorageContract('the local directory', {
  start: () => startTestApp(limits),
  async storedKeys(t, userId) {
    const folder = path.join(t.dataDir, 'files', userId);
    const names = await fs.readdir(folder).catch(() => [] as string[]);
    return names.map((name) => `${userId}/${name}`);
  },
});

const BUCKET = 'gptql-files-test';
let s3rver: S3rver | undefined;
let s3rverDir: string | undefined;
let endpoint = '';

fileStorageContract('S3 (s3rver)', {
  async start() {
    s3rverDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-s3rver-'));
    s3rver = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3rverDir, configureBuckets: [{ name: BUCKET }] });
    const { port } = await s3rver.run();
    endpoint = `http://127.0.0.1:${port}`;
    return startTestApp({ ...limits, S3_BUCKET_NAME: BUCKET, S3_ENDPOINT: endpoint });
  },
  async storedKeys(_t, userId) {
    const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      const { Contents = [] } = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${userId}/` }));
      return Contents.map((object) => object.Key!);
    } finally {
      client.destroy();
    }
  },
  async stop() {
    await s3rver?.close();
    if (s3rverDir) await fs.rm(s3rverDir, { recursive: true, force: true });
  },
});
