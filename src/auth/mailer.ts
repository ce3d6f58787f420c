/**
 * Where verification and reset codes go. The default writes each message to the log and to
 * DATA_DIR/outbox (one JSON file per message), which is how an embedded install (and the tests)
 * read codes without a mail server.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** What the message is for, so readers of the outbox can pick the right one. */
  purpose: 'confirm-sign-up' | 'reset-password' | 'account-exists';
  code?: string;
}

export interface Mailer {
  send(message: MailMessage): Promise<void>;
}

export function outboxDir(dataDir: string): string {
  return path.join(dataDir, 'outbox');
}

export function createOutboxMailer(dataDir: string, logger: Logger): Mailer {
  const dir = outboxDir(dataDir);
  return {
    async send(message) {
      await fs.mkdir(dir, { recursive: true });
      // Time-first names keep the outbox listing in sending order.
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${crypto.randomUUID()}.json`;
      // Written aside, then renamed: a reader of the outbox never sees half a message.
      const partial = path.join(dir, `${name}.partial`);
      await fs.writeFile(partial, JSON.stringify({ ...message, sentAt: new Date().toISOString() }, null, 2));
      await fs.rename(partial, path.join(dir, name));
      logger.info({ to: message.to, purpose: message.purpose, code: message.code, outbox: name }, `mail: ${message.subject}`);
    },
  };
}
