/**
 * What the model is asked, request by request: the engine's `generate` is wrapped (every engine
 * in this process) so that a test sees the prompt input exactly as the worker built it.
 */
import { InferenceEngine } from '../../src/inference/engine.ts';
import type { PromptInput } from '../../src/inference/prompt.ts';

export function capturePrompts(): { prompts: PromptInput[]; lastChat(): readonly { role: string; content: string }[]; restore(): void } {
  const prompts: PromptInput[] = [];
  const generate = InferenceEngine.prototype.generate;
  InferenceEngine.prototype.generate = function (request) {
    prompts.push(request.input);
    return generate.call(this, request);
  };
  return {
    prompts,
    lastChat: () => {
      const last = prompts.at(-1);
      return last && 'messages' in last ? last.messages : [];
    },
    restore: () => {
      InferenceEngine.prototype.generate = generate;
    },
  };
}
