/**
 * The AWS SDK clients' side of surviving an outage: a bounded retry budget per command, and each
 * command that still fails for want of the service counted by kind (`dependency_errors_total`).
 */
import { dependencyErrorKind, type DependencyErrorKind } from '../dependency-errors.ts';
import type { MiddlewareClient } from './aws-tracing.ts';

/**
 * Every attempt gets at most `timeoutMs` to connect and `answerMs` until the response's headers
 * arrive (a body then streams without limit: a download is read as slowly as its client reads);
 * the SDK's standard strategy retries throttling, timeouts and 5xx with jittered backoff within
 * its token bucket, up to three attempts in all. So a command fails after about three times that
 * at worst, instead of hanging on a server that does not answer.
 */
export function awsClientLimits(timeoutMs: number, answerMs = timeoutMs) {
  // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes.
  return { maxAttempts: 3, requestHandler: { connectionTimeout: timeoutMs, requestTimeout: answerMs, throwOnRequestTimeout: true } };
}

/**
 * Calls `onError` with the kind of each command that failed because the service is unavailable,
 * once per command: the middleware sits at the `initialize` step, outside the SDK's retries.
 */
export function countAwsErrors<C>(client: C, onError: (kind: DependencyErrorKind) => void): C {
  (client as unknown as MiddlewareClient).middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const kind = dependencyErrorKind(error);
        if (kind) onError(kind);
        throw error;
      }
    },
    { step: 'initialize', name: 'gptqlCountDependencyErrors' },
  );
  return client;
}
