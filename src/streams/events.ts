/** What a generation emits, in order; `index` counts from 1, so `after: 0` means "everything". */
import type { FinishReason, Timings, TokenLogprob, Usage } from '../inference/protocol.ts';

export type GenerationStatus = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export type StreamEvent =
  /** `logprobs`: only when the request asked, one per token the delta completes. */
  | { kind: 'token'; index: number; delta: string; logprobs?: TokenLogprob[] }
  | {
      kind: 'completed';
      index: number;
      /** The stored assistant message; null for stateless generations. */
      messageId: string | null;
      text: string;
      usage: Usage;
      finishReason: FinishReason;
      timings: Timings;
      model: string;
      cached: boolean;
    }
  | { kind: 'failed'; index: number; code: string; message: string };

export const isTerminal = (event: StreamEvent) => event.kind !== 'token';


/** What the API needs to know about a generation while it lives (ownership, status). */
export interface GenerationMeta {
  generationId: string;
  userId: string;
  conversationId?: string;
  userMessageId?: string;
  replyMessageId?: string;
  status: GenerationStatus;
  createdAt: string;
}
