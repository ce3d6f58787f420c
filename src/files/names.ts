/**
 * File names as users gave them, made safe to store and to put in a Content-Disposition header:
 * no directories, no control or bidi-override characters, no leading dots, bounded length.
 */
const MAX_NAME_LENGTH = 200;

// Control characters, and the invisible formatting ones that can disguise an extension
// ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf").
// eslint-disable-next-line no-control-regex -- control characters are exactly what this removes
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function sanitizeFileName(raw: string | undefined | null): string {
  const base = (raw ?? '').normalize('NFC').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .replace(UNSAFE, '')
    .replace(/["*:<>?|]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '');
  if (cleaned.length === 0) return 'file';
  if (cleaned.length <= MAX_NAME_LENGTH) return cleaned;
  // Keep the extension when shortening: it is what people recognise the file by.
  const dot = cleaned.lastIndexOf('.');
  const extension = dot > 0 && cleaned.length - dot <= 16 ? cleaned.slice(dot) : '';
  return [...cleaned.slice(0, MAX_NAME_LENGTH - extension.length)].join('').trimEnd() + extension;
}

/** `attachment` with an ASCII fallback and the exact name in RFC 5987 form. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}
