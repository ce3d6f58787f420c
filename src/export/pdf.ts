/**
 * A conversation as PDF, rendered by pdfkit with DejaVu Sans embedded: the standard PDF fonts
 * cover Latin-1 only, while DejaVu covers Latin, Greek, Cyrillic and much more, so accented and
 * non-Latin text is drawn (and extractable, through the font's ToUnicode map) instead of tofu.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import PDFDocument from 'pdfkit';
import type { ConversationExport } from './conversation-export.ts';

const require = createRequire(import.meta.url);
const FONT_DIR = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const FONTS = { regular: path.join(FONT_DIR, 'DejaVuSans.ttf'), bold: path.join(FONT_DIR, 'DejaVuSans-Bold.ttf') };

const ROLE_NAMES = { system: 'System', user: 'User', assistant: 'Assistant' } as const;

/** Renders the whole document; resolves with its bytes. */
export function renderPdf(data: ConversationExport): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 56, info: { Title: data.conversation.title, Creator: 'gptql' } });
  doc.registerFont('body', FONTS.regular);
  doc.registerFont('heading', FONTS.bold);
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  doc.font('heading').fontSize(18).text(data.conversation.title);
  doc.font('body').fontSize(9).fillColor('#666').text(`Exported ${data.exportedAt}`).moveDown();
  if (data.conversation.systemPrompt) {
    doc.font('heading').fontSize(11).fillColor('#000').text('System prompt');
    doc.font('body').fontSize(10).text(data.conversation.systemPrompt).moveDown();
  }
  for (const message of data.messages) {
    const model = message.role === 'assistant' && message.model ? ` (${message.model})` : '';
    doc.font('heading').fontSize(11).fillColor('#000').text(`${ROLE_NAMES[message.role]}${model}`, { continued: true });
    doc.font('body').fontSize(8).fillColor('#666').text(`  ${message.createdAt}`);
    doc.font('body').fontSize(10).fillColor('#000').text(message.content || ' ').moveDown();
  }
  doc.end();
  return done;
}
