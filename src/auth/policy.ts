import { dictionary } from '@zxcvbn-ts/language-common';
import { badInput } from '../errors.ts';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;
const MAX_EMAIL_LENGTH = 254;
// Deliberately loose: the confirmation code proves the address; this only rejects obvious garbage.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Returns the email in the form it is stored and looked up by. */
export function checkEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (normalized.length > MAX_EMAIL_LENGTH || !EMAIL.test(normalized)) {
    throw badInput('Not a valid email address', { argument: 'email' });
  }
  return normalized;
}

/**
 * The ~50,000 most common passwords from leaked-password corpora, shipped with zxcvbn-ts (so
 * the check works offline). Compared case-insensitively: "Password1" is as guessable as
 * "password1".
 */
const COMMON_PASSWORDS = new Set(dictionary['passwords-common']);

export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw badInput(`Password must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`, { argument: 'password' });
  }
  if (!/[a-zA-Z]/.test(password) || !/[0-9]/.test(password)) {
    throw badInput('Password must contain letters and digits', { argument: 'password' });
  }
  if (COMMON_PASSWORDS.has(password.toLowerCase())) {
    throw badInput('This password is too common; choose another', { argument: 'password' });
  }
}
