/**
 * The audit trail: security-relevant events as structured JSON log lines marked `audit: true`,
 * so that log shipping can route them apart from the rest. Each names the acting user (when
 * known), the request and the client address.
 */
import type { Logger } from 'pino';
import type { AuthenticatedContext, Context } from '../context.ts';

export type AuditEvent =
  | 'auth.sign_in'
  | 'auth.sign_in_failed'
  | 'auth.sign_in_locked'
  | 'user.role_changed'
  | 'user.disabled'
  | 'user.quota_changed'
  | 'conversation.deleted'
  | 'conversation.imported'
  | 'file.uploaded'
  | 'file.deleted';

export interface AuditFields {
  requestId: string;
  clientIp: string;
  /** The user who acted; absent for a failed sign-in, where `email` says who was tried. */
  userId?: string;
  [detail: string]: unknown;
}

export type AuditLog = (event: AuditEvent, fields: AuditFields) => void;

export function createAuditLog(logger: Logger): AuditLog {
  const audit = logger.child({ audit: true });
  return (event, fields) => audit.info({ event, ...fields }, event);
}

/** Who is acting in this request, as the audit trail records it. */
export function actor(context: AuthenticatedContext): AuditFields & { userId: string };
export function actor(context: Context): AuditFields;
export function actor(context: Context): AuditFields {
  return { requestId: context.requestId, clientIp: context.clientIp, ...(context.identity ? { userId: context.identity.userId } : {}) };
}
