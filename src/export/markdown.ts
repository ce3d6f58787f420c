/** A conversation as Markdown: a heading per message, the text as written. */
import type { ConversationExport } from './conversation-export.ts';

const ROLE_NAMES = { system: 'System', user: 'User', assistant: 'Assistant' } as const;

export function renderMarkdown(data: ConversationExport): string {
  const lines = [`# ${oneLine(data.conversation.title)}`, '', `*Exported ${data.exportedAt}*`, ''];
  if (data.conversation.systemPrompt) lines.push('> **System prompt**', ...quote(data.conversation.systemPrompt), '');
  for (const message of data.messages) {
    const model = message.role === 'assistant' && message.model ? ` (${message.model})` : '';
    lines.push(`## ${ROLE_NAMES[message.role]}${model} · ${message.createdAt}`, '', message.content, '');
    if (message.interrupted) lines.push('*(reply interrupted)*', '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const quote = (text: string) => text.split('\n').map((line) => `> ${line}`);
