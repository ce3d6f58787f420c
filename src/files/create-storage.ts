import path from 'node:path';
import type { Config } from '../config.ts';
import type { FileStorage } from './storage.ts';
import type { DependencyErrorKind } from '../dependency-errors.ts';
import { createLocalStorage } from './storage-local.ts';
import { createS3Storage } from './storage-s3.ts';

/** S3 when a bucket is configured, else `DATA_DIR/files`. */
export function createFileStorage(config: Config, onUnavailable?: (kind: DependencyErrorKind) => void): FileStorage {
  const s3 = config.files.s3;
  if (s3) {
    const { bucket, endpoint, placeholderCredentials } = s3;
    return createS3Storage({ bucket, region: config.region, endpoint, placeholderCredentials, timeoutMs: config.dependencyTimeoutMs, onUnavailable });
  }
  return createLocalStorage(path.join(config.dataDir, 'files'));
}
