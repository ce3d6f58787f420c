/**
 * A hit's snippet: the part of its text around the first matched word, HTML-escaped, with every
 * word that reduces to a matched index term wrapped in `<mark>…</mark>`.
 */
import escapeHtml from 'escape-html';
import { WORD, indexTerm } from './user-index.ts';

/** Characters shown before the first match; the snippet is about `width` characters in all. */
const LEAD = 60;

export function snippet(text: string, terms: readonly string[], width = 180): string {
  const matched = new Set(terms);
  const words = [...text.matchAll(WORD)].map((m) => ({ start: m.index, end: m.index + m[0].length, marked: matched.has(indexTerm(m[0])) }));
  const first = words.find((w) => w.marked);
  let start = first ? Math.max(0, first.start - LEAD) : 0;
  // Cut at word boundaries, never in the middle of one.
  const before = words.find((w) => w.end > start);
  if (before && before.start < start) start = before.end;
  let end = Math.min(text.length, start + width);
  const across = words.find((w) => w.start < end && w.end > end);
  if (across) end = across.start;
  let out = start > 0 ? '…' : '';
  let at = start;
  for (const word of words) {
    if (word.start < start || word.end > end || !word.marked) continue;
    out += `${escapeHtml(text.slice(at, word.start))}<mark>${escapeHtml(text.slice(word.start, word.end))}</mark>`;
    at = word.end;
  }
  out += escapeHtml(text.slice(at, end));
  return (end < text.length ? `${out.trimEnd()}…` : out).replace(/\s+/g, ' ').trim();
}
