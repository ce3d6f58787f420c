/**
 * Exception mapping for the cases cognito-local cannot produce; the exceptions are built the
 * way the SDK builds them from AWS responses (names and messages as AWS sends them).
 */
import {
  InternalErrorException,
  NotAuthorizedException,
  TooManyRequestsException,
  UserNotFoundException,
} from '@aws-sdk/client-cognito-identity-provider';
import { describe, expect, it, vi } from 'vitest';
import { toAppError } from './cognito-errors.ts';

const logger = { error: vi.fn() };
const meta = { $metadata: {} };

describe('toAppError', () => {
  it('maps AWS\'s "User is disabled." at log-in to FORBIDDEN', () => {
    const error = new NotAuthorizedException({ message: 'User is disabled.', ...meta });
    expect(toAppError(error, 'logIn', logger)).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('maps a wrong password and a revoked refresh token to UNAUTHENTICATED', () => {
    const wrong = new NotAuthorizedException({ message: 'Incorrect username or password.', ...meta });
    const revoked = new NotAuthorizedException({ message: 'Refresh Token has been revoked', ...meta });
    expect(toAppError(wrong, 'logIn', logger)).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(toAppError(revoked, 'token', logger)).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('reveals an unknown user only to admin operations', () => {
    const error = new UserNotFoundException({ message: 'User does not exist.', ...meta });
    expect(toAppError(error, 'admin', logger)).toMatchObject({ code: 'NOT_FOUND' });
    expect(toAppError(error, 'logIn', logger)).toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('maps throttling to RATE_LIMITED', () => {
    const error = new TooManyRequestsException({ message: 'Rate exceeded', ...meta });
    expect(toAppError(error, 'account', logger)).toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('hides anything else behind INTERNAL and logs the original', () => {
    logger.error.mockClear();
    const error = new InternalErrorException({ message: 'secret internals', ...meta });
    const mapped = toAppError(error, 'account', logger);
    expect(mapped).toMatchObject({ code: 'INTERNAL' });
    expect(mapped.message).not.toContain('secret');
    expect(logger.error).toHaveBeenCalledWith(expect.objectContaining({ err: error }), expect.any(String));
  });
});
