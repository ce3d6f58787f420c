/**
 * What the page keeps across a reload, in sessionStorage: it survives a reload of the tab but not
 * the tab itself, so a token is not left behind on a shared machine once the tab is closed, and
 * another page script cannot read it after the fact.
 */

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** A generation being followed: enough to pick the stream up where it was after a reload. */
export interface PendingGeneration {
  id: string;
  conversationId: string;
  /** The last event index seen; resume with `generation(id, after: index)`. */
  index: number;
  /** The reply text up to that index. */
  text: string;
}

const TOKENS = 'gptql.tokens';
const PENDING = 'gptql.generation';
const CONVERSATION = 'gptql.conversation';

function read<T>(key: string): T | undefined {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : undefined;
  } catch {
    return undefined; // a corrupt entry is as good as none
  }
}

function write(key: string, value: unknown): void {
  if (value === undefined) sessionStorage.removeItem(key);
  else sessionStorage.setItem(key, JSON.stringify(value));
}

export const session = {
  tokens: () => read<Tokens>(TOKENS),
  setTokens: (tokens: Tokens | undefined) => write(TOKENS, tokens),
  pending: () => read<PendingGeneration>(PENDING),
  setPending: (pending: PendingGeneration | undefined) => write(PENDING, pending),
  conversation: () => read<string>(CONVERSATION),
  setConversation: (id: string | undefined) => write(CONVERSATION, id),
  clear(): void {
    for (const key of [TOKENS, PENDING, CONVERSATION]) sessionStorage.removeItem(key);
  },
};
