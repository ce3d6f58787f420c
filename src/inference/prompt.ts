/**
 * Prompts: chat messages rendered with the model's chat template (see chat-template.ts) through
 * @huggingface/jinja, with the variables transformers' apply_chat_template gives it, or
 * DEFAULT_CHAT_TEMPLATE, and fitted into a token budget by
 * dropping the oldest turns, keeping the system prompt and the newest message.
 */
import { Template } from '@huggingface/jinja';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/**
 * `continuation`: reply text already produced (by a worker that died mid-generation); the
 * model goes on from there instead of starting the reply again.
 */
export type PromptInput = ({ prompt: string } | { messages: readonly ChatMessage[] }) & { continuation?: string };

/**
 * For models without a chat template (such as the shipped default, trained on plain prose):
 * a transcript that reads naturally as text, ending where the assistant's reply starts.
 */
export const DEFAULT_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message.role == 'system' %}{{ message.content }}\n\n" +
  "{% elif message.role == 'user' %}User: {{ message.content }}\n\n" +
  '{% else %}Assistant: {{ message.content }}\n\n{% endif %}{% endfor %}' +
  '{% if add_generation_prompt %}Assistant:{% endif %}';

export interface Encoder {
  /** Text that holds its special tokens itself (a rendered template): none are added. */
  encode(text: string): number[];
  /** A plain prompt, with what the tokenizer adds around text (a BOS, say); `encode` if absent. */
  encodePrompt?(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** A chat template refused the conversation (its `raise_exception`), or could not be rendered. */
export class ChatTemplateRenderError extends Error {
  override readonly name = 'ChatTemplateRenderError';
}

export interface FittedPrompt {
  ids: number[];
  /** Messages left out (oldest first), or 0. */
  droppedMessages: number;
  /** True when text was cut, by dropping messages or shortening one. */
  truncated: boolean;
}

export class PromptBuilder {
  private readonly template: Template;

  constructor(
    template: string | undefined,
    private readonly specialTokens: Record<string, string>,
    private readonly encoder: Encoder,
  ) {
    try {
      this.template = new Template(template ?? DEFAULT_CHAT_TEMPLATE);
    } catch (error) {
      throw new ChatTemplateRenderError(`The model's chat template cannot be parsed: ${(error as Error).message}`);
    }
  }

  render(messages: readonly ChatMessage[]): string {
    try {
      return this.template.render({ messages, add_generation_prompt: true, ...this.specialTokens });
    } catch (error) {
      throw new ChatTemplateRenderError(`The model's chat template refused the conversation: ${(error as Error).message}`);
    }
  }

  /** Tokenizes the input so that it fits in `budget` tokens. */
  fit(input: PromptInput, budget: number): FittedPrompt {
    if (!input.continuation) return this.fitPrompt(input, budget);
    const tail = this.encoder.encode(input.continuation).slice(-Math.floor(budget / 2));
    const head = this.fitPrompt(input, budget - tail.length);
    return { ...head, ids: [...head.ids, ...tail] };
  }

  private fitPrompt(input: PromptInput, budget: number): FittedPrompt {
    if ('prompt' in input) {
      const ids = this.encoder.encodePrompt ? this.encoder.encodePrompt(input.prompt) : this.encoder.encode(input.prompt);
      return ids.length <= budget ? { ids, droppedMessages: 0, truncated: false } : { ids: ids.slice(-budget), droppedMessages: 0, truncated: true };
    }
    const system = input.messages.filter((m) => m.role === 'system');
    let turns = input.messages.filter((m) => m.role !== 'system');
    let dropped = 0;
    for (;;) {
      const ids = this.encoder.encode(this.render([...system, ...turns]));
      if (ids.length <= budget) return { ids, droppedMessages: dropped, truncated: dropped > 0 };
      if (turns.length > 1) {
        turns = turns.slice(1);
        dropped++;
        continue;
      }
      // One message left and still too long: keep the end of it (and of the system prompt).
      const shortened = this.shorten([...system, ...turns], ids.length - budget);
      const shortIds = this.encoder.encode(this.render(shortened));
      // Last resort, whatever the template adds: the newest tokens of the rendered prompt.
      return { ids: shortIds.length <= budget ? shortIds : shortIds.slice(-budget), droppedMessages: dropped, truncated: true };
    }
  }

  /** Removes about `excess` tokens (plus a margin for merges at the cut) from the longest messages' beginnings. */
  private shorten(messages: ChatMessage[], excess: number): ChatMessage[] {
    let remaining = excess + 8;
    const order = messages.map((m, i) => ({ i, n: this.encoder.encode(m.content).length })).sort((a, b) => b.n - a.n);
    const result = messages.map((m) => ({ ...m }));
    for (const { i } of order) {
      if (remaining <= 0) break;
      const ids = this.encoder.encode(result[i]!.content);
      const cut = Math.min(ids.length, remaining);
      result[i]!.content = this.encoder.decode(ids.slice(cut));
      remaining -= cut;
    }
    return result;
  }
}

/**
 * Room for the prompt: the context minus the tokens the reply may use, where a reply never
 * reserves more than half the window (a longer one still runs, until the window is full).
 */
export function promptBudget(contextLength: number, maxTokens: number): number {
  return contextLength - Math.min(maxTokens, Math.floor(contextLength / 2));
}
