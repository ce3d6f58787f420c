/**
 * How errors reach clients: every error carries a stable `extensions.code` (src/errors.ts);
 * internal failures are logged and shown only as INTERNAL, never with their message or stack.
 */
import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Logger } from 'pino';
import { AppError, ErrorCode } from '../errors.ts';

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
    if (original instanceof GraphQLError && original.extensions.code) return original;
    logger.error({ err: original }, 'unexpected error');
    return new GraphQLError('Internal server error', { ...position, extensions: { code: ErrorCode.INTERNAL } });
  };
}

const CONTRACT_CODES = new Set<unknown>(Object.values(ErrorCode));

/**
 * Errors that reach this point without one of our codes were raised by GraphQL itself before
 * any resolver ran (syntax, validation, variable coercion: yoga marks some GRAPHQL_PARSE_FAILED
 * or GRAPHQL_VALIDATION_FAILED), all caused by the request: BAD_USER_INPUT, with the specific
 * reason kept beside it.
 */
export function withErrorCodes<T extends ExecutionResult>(result: T, onCode?: (code: string) => void): T {
  if (!result.errors?.length) return result;
  const errors = result.errors.map((error) => {
    const code = error.extensions?.code;
    if (CONTRACT_CODES.has(code)) {
      onCode?.(code as string);
      return error;
    }
    onCode?.(ErrorCode.BAD_USER_INPUT);
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
