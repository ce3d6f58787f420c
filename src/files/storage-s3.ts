/**
 * Files in S3 (or an S3-compatible store: MinIO, s3rver). Uploads go through lib-storage's
 * `Upload`, which sends the stream in parts (one part buffered at a time, never the whole file)
 * and aborts the multipart upload when the stream fails, so nothing is left behind.
 */
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { checkKey, type FileStorage } from './storage.ts';
import { traceAwsClient } from '../observability/aws-tracing.ts';
import { awsClientLimits, countAwsErrors } from '../observability/aws-errors.ts';
import type { DependencyErrorKind } from '../dependency-errors.ts';

export interface S3StorageOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  placeholderCredentials?: boolean;
  /** Per attempt (DEPENDENCY_TIMEOUT_MS): see awsClientLimits. */
  timeoutMs: number;
  /** Each command that failed for want of S3 (for the dependency metrics). */
  onUnavailable?: (kind: DependencyErrorKind) => void;
}

/** How many DEPENDENCY_TIMEOUT_MS an S3 request has to be answered (20 s by default). */
const S3_PART_ANSWER_FACTOR = 10;

export function createS3Storage(options: S3StorageOptions): FileStorage {
  const client = countAwsErrors(
    traceAwsClient(
      new S3Client({
        region: options.region,
        // An upload's request carries a part (5 MiB) before S3 can answer: more time than a read.
        ...awsClientLimits(options.timeoutMs, options.timeoutMs * S3_PART_ANSWER_FACTOR),
        ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
        ...(options.placeholderCredentials ? { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } } : {}),
      }),
      'S3',
    ),
    options.onUnavailable ?? (() => {}),
  );
  const Bucket = options.bucket;
  const remove = (key: string) => client.send(new DeleteObjectCommand({ Bucket, Key: checkKey(key) }));
  return {
    kind: 's3',
    async put(key, body, contentType) {
      const upload = new Upload({
        client,
        params: { Bucket, Key: checkKey(key), Body: Readable.from(body), ContentType: contentType },
      });
      try {
        await upload.done();
      } catch (error) {
        // A single-part upload that failed stored nothing, and a multipart one was aborted by
        // Upload; deleting is for the rare race where the object was written just before.
        await remove(key).catch(() => {});
        throw error;
      }
    },
    async get(key) {
      try {
        const { Body } = await client.send(new GetObjectCommand({ Bucket, Key: checkKey(key) }));
        return Body instanceof Readable ? Body : undefined;
      } catch (error) {
        if (error instanceof NoSuchKey || error instanceof NotFound) return undefined;
        throw error;
      }
    },
    async delete(key) {
      await remove(key);
    },
    async exists(key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket, Key: checkKey(key) }));
        return true;
      } catch (error) {
        if (error instanceof NotFound || error instanceof NoSuchKey) return false;
        throw error;
      }
    },
    close() {
      client.destroy();
    },
  };
}
