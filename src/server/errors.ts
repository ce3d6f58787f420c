/**
 * How errors reach clients: every error carries a stable `extensions.code` (src/errors.ts);
 * internal failures are logged and shown only as INTERNAL, never with their message or stack.
 */
import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../errors.ts';
import { isDependencyUnavailable } from '../dependency-errors.ts';

/**
 * Yoga and its plugins refuse a malformed request (bad JSON, missing CSRF header, batch too
 * large) with a GraphQLError carrying a 4xx status and no code: the request's fault, safe to
 * show. withErrorCodes then gives it BAD_USER_INPUT.
 */
function isRequestError(error: GraphQLError): boolean {
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return error.originalError === undefined && typeof status === 'number' && status >= 400 && status < 500;
}

/** What a client is told when Redis, DynamoDB or S3 failed under its request: retry in a second. */
export const UNAVAILABLE_MESSAGE = 'A service this request needs is unavailable; try again shortly';

export function unavailableError(position: { nodes?: GraphQLError['nodes']; path?: GraphQLError['path'] } = {}): GraphQLError {
  return new GraphQLError(UNAVAILABLE_MESSAGE, {
    ...position,
    // yoga takes `http` from the error for the response (and leaves it out of the body).
    extensions: { code: ErrorCode.UNAVAILABLE, retryAfter: 1, http: { status: 503, headers: { 'Retry-After': '1' } } },
  });
}

export function createErrorMasker(logger: Logger) {
  return (error: unknown): Error => {
    const located = error instanceof GraphQLError ? error : undefined;
    const original = located?.originalError ?? error;
    const position = { nodes: located?.nodes, path: located?.path };
    if (original instanceof AppError) {
      return new GraphQLError(original.message, {
        ...position,
        extensions: { ...original.extra, code: original.code },
      });
    }
    if (original instanceof GraphQLError && (original.extensions.code || isRequestError(original))) return original;
    if (isDependencyUnavailable(original)) {
      logger.warn({ err: original }, 'a dependency is unavailable');
      return unavailableError(position);
    }
    // Variable coercion (an enum value or scalar that does not parse) wraps graphql-js's own
    // GraphQLError in one without a path, before anything executes: the input's fault.
    if (located && located.path === undefined && original instanceof GraphQLError) return located;
    logger.error({ err: original }, 'unexpected error');
    return new GraphQLError('Internal server error', { ...position, extensions: { code: ErrorCode.INTERNAL } });
  };
}

const CONTRACT_CODES = new Set<unknown>(Object.values(ErrorCode));

export interface ErrorShaping {
  /** Called with each error's final code (for metrics). */
  countCode?: (code: string) => void;
  /** Drop graphql-js's "Did you mean …?" hints: with introspection off they would leak the schema. */
  hideSuggestions?: boolean;
}

// graphql-js phrases every hint this way: fields, arguments, types, enum values, variables.
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

function withoutSuggestions(error: GraphQLError): GraphQLError {
  const message = error.message.replace(SUGGESTION, '');
  if (message === error.message) return error;
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/**
 * Errors that reach this point without one of our codes were raised by GraphQL itself before
 * any resolver ran (syntax, validation, variable coercion: yoga marks some GRAPHQL_PARSE_FAILED
 * or GRAPHQL_VALIDATION_FAILED), all caused by the request: BAD_USER_INPUT, with the specific
 * reason kept beside it.
 */
export function withErrorCodes<T extends ExecutionResult>(result: T, options: ErrorShaping = {}): T {
  if (!result.errors?.length) return result;
  const { countCode, hideSuggestions = false } = options;
  const errors = result.errors.map((error) => {
    const code = error.extensions?.code;
    if (hideSuggestions) error = withoutSuggestions(error);
    if (CONTRACT_CODES.has(code)) {
      countCode?.(code as string);
      return error;
    }
    countCode?.(ErrorCode.BAD_USER_INPUT);
    return new GraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      originalError: error.originalError,
      extensions: {
        ...error.extensions,
        code: ErrorCode.BAD_USER_INPUT,
        ...(typeof code === 'string' ? { reason: code } : {}),
      },
    });
  });
  return { ...result, errors };
}
