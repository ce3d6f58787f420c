/**
 * Translates Cognito's exceptions into the API's error codes (the contract in identity.ts).
 * The same exception can mean different things depending on the operation, so callers name
 * the kind of operation they were doing.
 */
import { CognitoIdentityProviderServiceException } from '@aws-sdk/client-cognito-identity-provider';
import { AppError, ErrorCode, badInput, forbidden, notFound, unauthenticated } from '../errors.ts';

/**
 * - `logIn`: credentials are being checked; nothing may reveal whether the email exists.
 * - `token`: a refresh/access token is being used or revoked.
 * - `account`: sign-up, confirmation and password-reset flows driven by the user.
 * - `admin`: an operator acts on a user id.
 */
export type CognitoOperation = 'logIn' | 'token' | 'account' | 'admin';

/** The minimal logger shape we need; pino's `Logger` satisfies it. */
export interface ErrorLogger {
  error(details: object, message: string): void;
}

// A wrong or stale code: reported like the local provider's, naming the argument.
const CODE_EXCEPTIONS = new Set(['CodeMismatchException', 'ExpiredCodeException']);

const BAD_INPUT_EXCEPTIONS = new Set([
  'InvalidPasswordException',
  'InvalidParameterException',
  'UsernameExistsException',
  'AliasExistsException',
  'PasswordHistoryPolicyViolationException',
]);

// Cognito throttles per account and per user; these are the client's to retry, not our fault.
const RATE_LIMIT_EXCEPTIONS = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'TooManyFailedAttemptsException',
]);

export function toAppError(
  error: unknown,
  operation: CognitoOperation,
  logger: ErrorLogger,
): AppError {
  if (error instanceof AppError) return error;
  const mapped =
    error instanceof CognitoIdentityProviderServiceException
      ? mapCognitoException(error.name, error.message, operation)
      : undefined;
  if (mapped) return mapped;
  // Anything unexpected (network, unsupported operation, misconfigured pool) is ours to fix;
  // the client gets a generic message, the log gets the details.
  logger.error({ err: error, operation }, 'Cognito request failed');
  return new AppError(ErrorCode.INTERNAL, 'Identity provider error');
}

function mapCognitoException(
  name: string,
  message: string,
  operation: CognitoOperation,
): AppError | undefined {
  switch (name) {
    case 'NotAuthorizedException':
      // AWS refuses a disabled account at log-in with NotAuthorizedException and this text;
      // the contract wants FORBIDDEN for that case and UNAUTHENTICATED for bad credentials.
      if (operation === 'logIn' && /disabled/i.test(message)) {
        return forbidden('Account disabled');
      }
      return unauthenticated(operation === 'logIn' ? 'Incorrect email or password' : undefined);
    case 'RefreshTokenReuseException':
      return unauthenticated();
    case 'UserNotConfirmedException':
      return forbidden('Account not confirmed');
    case 'PasswordResetRequiredException':
      return forbidden('Password reset required');
    case 'UserNotFoundException':
      if (operation === 'admin') return notFound('User');
      // Never tell a caller which emails have accounts.
      if (operation === 'logIn') return unauthenticated('Incorrect email or password');
      if (operation === 'account') return badInput('Invalid code');
      return unauthenticated();
  }
  if (operation === 'logIn' && name === 'InvalidPasswordException') {
    // cognito-local reports a wrong password this way; AWS uses NotAuthorizedException.
    return unauthenticated('Incorrect email or password');
  }
  if (CODE_EXCEPTIONS.has(name)) return badInput(message, { argument: 'code' });
  if (BAD_INPUT_EXCEPTIONS.has(name)) return badInput(message);
  if (RATE_LIMIT_EXCEPTIONS.has(name)) {
    return new AppError(ErrorCode.RATE_LIMITED, 'Too many requests, try again later');
  }
  return undefined;
}
