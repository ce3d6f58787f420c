/**
 * One user's search index: their messages and conversation titles in MiniSearch, with words
 * stemmed (Porter's English stemmer) and matched as prefixes, so "lighthou" and "lighthouses"
 * find "lighthouse". MiniSearch was chosen over FlexSearch for its maintained TypeScript API,
 * its documents removable by id (a deleted conversation leaves at once), BM25 scores and the
 * matched terms it reports per hit (which the snippets mark); an index of one user's messages
 * needs no more speed than it gives.
 *
 * Texts are not kept in the index (the hits' texts are read back for their snippets), only
 * terms; `bytes` estimates its memory for the cache's bound.
 */
import MiniSearch, { type SearchResult } from 'minisearch';
import { stemmer } from 'stemmer';

export interface SearchDocument {
  /** The message id, or `title:<conversationId>` for a conversation's title. */
  id: string;
  conversationId: string;
  messageId?: string;
  text: string;
}

export interface IndexHit {
  conversationId: string;
  messageId: string | null;
  score: number;
  /** The index terms this document matched (stemmed, lower case): the snippet marks words that reduce to them. */
  terms: string[];
}

/** Rough bytes of index per character indexed, and per document: measured with MiniSearch 7 on chat text, rounded up. */
const BYTES_PER_CHAR = 3;
const BYTES_PER_DOCUMENT = 200;

/** Words are runs of letters and digits: markup and symbols (`<b>`, `&`) split them, as spaces do. */
export const WORD = /[\p{L}\p{N}]+/gu;

/** How a word is indexed and searched: lower case, stemmed. */
export const indexTerm = (word: string): string => stemmer(word.toLowerCase());

export const titleDocumentId = (conversationId: string) => `title:${conversationId}`;

export class UserIndex {
  private readonly index = new MiniSearch<SearchDocument>({
    fields: ['text'],
    tokenize: (text) => text.match(WORD) ?? [],
    storeFields: ['conversationId', 'messageId'],
    processTerm: (term) => indexTerm(term) || null,
    searchOptions: { prefix: true, combineWith: 'AND' },
  });
  private readonly documents = new Map<string, Set<string>>();
  private readonly sizes = new Map<string, number>();
  private total = 0;

  get bytes(): number {
    return this.total;
  }

  /** Adds the document, or replaces the one with its id. */
  put(document: SearchDocument): void {
    if (this.index.has(document.id)) this.remove(document.id);
    if (document.text.trim().length === 0) return;
    this.index.add(document);
    const size = document.text.length * BYTES_PER_CHAR + BYTES_PER_DOCUMENT;
    this.sizes.set(document.id, size);
    this.total += size;
    const ids = this.documents.get(document.conversationId) ?? new Set();
    ids.add(document.id);
    this.documents.set(document.conversationId, ids);
  }

  hasConversation(conversationId: string): boolean {
    return this.documents.has(conversationId);
  }

  removeConversation(conversationId: string): void {
    for (const id of this.documents.get(conversationId) ?? []) this.remove(id);
    this.documents.delete(conversationId);
  }

  search(query: string): IndexHit[] {
    return this.index.search(query).map((result: SearchResult) => ({
      conversationId: result.conversationId as string,
      messageId: (result.messageId as string | undefined) ?? null,
      score: result.score,
      terms: result.terms,
    }));
  }

  private remove(id: string): void {
    if (!this.index.has(id)) return;
    this.index.discard(id);
    this.total -= this.sizes.get(id) ?? 0;
    this.sizes.delete(id);
  }
}
