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
      await fs.writeFile(path.join(dir, name), JSON.stringify({ ...message, sentAt: new Date().toISOString() }, null, 2));
      logger.info({ to: message.to, purpose: message.purpose, code: message.code, outbox: name }, `mail: ${message.subject}`);
    },
  };
}
