/**
 * What `model pull` can fail with. The code is stable (scripts and tests match on it); the
 * message is for people and says what to do next.
 */
export const PullErrorCode = {
  BAD_ARGUMENT: 'BAD_ARGUMENT',
  REPO_NOT_FOUND: 'REPO_NOT_FOUND',
  REVISION_NOT_FOUND: 'REVISION_NOT_FOUND',
  FILE_NOT_FOUND: 'FILE_NOT_FOUND',
  ACCESS_DENIED: 'ACCESS_DENIED',
  BAD_TOKEN: 'BAD_TOKEN',
  NO_VARIANT: 'NO_VARIANT',
  MISSING_FILE: 'MISSING_FILE',
  CHECKSUM_MISMATCH: 'CHECKSUM_MISMATCH',
  SIZE_MISMATCH: 'SIZE_MISMATCH',
  INTERRUPTED: 'INTERRUPTED',
  DISK_FULL: 'DISK_FULL',
  DESTINATION_EXISTS: 'DESTINATION_EXISTS',
  PARTIAL_NOT_OURS: 'PARTIAL_NOT_OURS',
  UNREACHABLE: 'UNREACHABLE',
  HTTP_ERROR: 'HTTP_ERROR',
} as const;

export type PullErrorCode = (typeof PullErrorCode)[keyof typeof PullErrorCode];

/** Failures after which the temporary folder is kept, so that running the command again resumes. */
export const RESUMABLE: ReadonlySet<PullErrorCode> = new Set([PullErrorCode.INTERRUPTED, PullErrorCode.DISK_FULL]);

export class PullError extends Error {
  override readonly name = 'PullError';
  constructor(
    readonly code: PullErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** fetch's own message is "fetch failed"; what failed is in its cause (ECONNREFUSED, other side closed…). */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const causeText = cause ? cause.message || (cause as NodeJS.ErrnoException).code : undefined;
  return causeText && causeText !== error.message ? `${error.message} (${causeText})` : error.message;
}

/** Decimal units, as the Hub shows file sizes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
