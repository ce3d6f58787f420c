/**
 * Which failures mean "a service this process depends on is unavailable" (Redis, DynamoDB, S3),
 * and of what kind: the request was not at fault and the same request will work once the service
 * is back. Clients get UNAVAILABLE (503, Retry-After); workers leave such a job for redelivery
 * rather than report it failed; metrics count them by dependency and kind.
 *
 * AWS SDK errors are classified by the SDK's own retry classification (what it retries is exactly
 * what is transient), applied to the error it finally throws once its retry budget is spent.
 */
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';

export type DependencyErrorKind = 'timeout' | 'connection' | 'throttled' | 'server';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/** What ioredis says when a command could not reach Redis (it has no error codes for these). */
function redisKind(error: Error): DependencyErrorKind | undefined {
  if (error.message === 'Command timed out') return 'timeout';
  if (error.name === 'MaxRetriesPerRequestError' || error.message === 'Connection is closed.') return 'connection';
  return undefined;
}

/** An AWS SDK service error or transport error (the SDK attaches `$metadata` to both). */
function awsKind(error: Error): DependencyErrorKind | undefined {
  if (!('$metadata' in error)) return undefined;
  const sdkError = error as Parameters<typeof isThrottlingError>[0];
  if (isThrottlingError(sdkError)) return 'throttled';
  if (TIMEOUT_NAMES.has(error.name) || (error as { code?: string }).code === 'ETIMEDOUT') return 'timeout';
  if (isTransientError(sdkError) || isServerError(sdkError)) return 'server';
  return undefined;
}

export function dependencyErrorKind(error: unknown): DependencyErrorKind | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
  return redisKind(error) ?? awsKind(error);
}

export const isDependencyUnavailable = (error: unknown): boolean => dependencyErrorKind(error) !== undefined;
