/**
 * A file's type from its bytes, never from its name or the client's header. Binary formats are
 * recognised by their magic numbers (`file-type`); text has none, so a file with no known
 * signature counts as text only if all of it is valid UTF-8 without NUL bytes, which
 * `TextChecker` verifies chunk by chunk while the bytes are stored.
 */
import { fileTypeFromBuffer } from 'file-type';
import { badInput } from '../errors.ts';

/** Bytes `file-type` needs to recognise every format it knows. */
export const SNIFF_BYTES = 4100;

/** Binary types accepted; anything else with a signature (executables, archives…) is refused. */
const ALLOWED_BINARY = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf']);

/** Text subtypes by extension: the content decides that it is text, the name only which kind. */
const TEXT_BY_EXTENSION: Record<string, string> = {
  md: 'text/markdown',
  markdown: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
};

export const TEXT_TYPES = new Set(['text/plain', ...Object.values(TEXT_BY_EXTENSION)]);
export const isTextType = (contentType: string) => TEXT_TYPES.has(contentType);

const EXECUTABLES = new Set(['application/x-elf', 'application/x-msdownload', 'application/x-mach-binary', 'application/wasm']);

export type Sniffed = { kind: 'binary'; contentType: string } | { kind: 'text'; contentType: string };

/** Decides from the first bytes; throws BAD_USER_INPUT for a type that is not allowed. */
export async function sniff(head: Uint8Array, name: string): Promise<Sniffed> {
  const detected = await fileTypeFromBuffer(head);
  if (detected) {
    if (ALLOWED_BINARY.has(detected.mime)) return { kind: 'binary', contentType: detected.mime };
    if (EXECUTABLES.has(detected.mime)) throw badInput('Executable files are not accepted', { argument: 'file', detected: detected.mime });
    throw badInput(`Files of type ${detected.mime} are not accepted`, { argument: 'file', detected: detected.mime });
  }
  const extension = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase() ?? '';
  return { kind: 'text', contentType: TEXT_BY_EXTENSION[extension] ?? 'text/plain' };
}

/** Checks that a stream of chunks is UTF-8 text without NULs; `push` throws at the first bad byte. */
export class TextChecker {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  push(chunk: Uint8Array): void {
    if (chunk.includes(0)) throw notText();
    try {
      this.decoder.decode(chunk, { stream: true });
    } catch {
      throw notText();
    }
  }

  end(): void {
    try {
      this.decoder.decode(); // an incomplete character at the very end
    } catch {
      throw notText();
    }
  }
}

const notText = () =>
  badInput('Unrecognised file type: accepted are UTF-8 text, Markdown, JSON, CSV, PDF, PNG, JPEG, GIF and WebP', { argument: 'file' });
