import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../../model/index.ts';
import { readModelFolder, textCodec } from './model-folder.ts';
import { DEFAULT_CHAT_TEMPLATE, PromptBuilder, promptBudget, type ChatMessage } from './prompt.ts';

const codec = textCodec(readModelFolder(DEFAULT_MODEL_DIR).tokenizer);

describe('prompts', () => {
  it('renders the default template as a readable transcript ending at the reply', () => {
    const builder = new PromptBuilder(undefined, {}, codec);
    expect(builder.render([
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'How are you?' },
    ])).toBe('Be kind.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: How are you?\n\nAssistant:');
  });

  it("uses the model's own chat template when it has one", () => {
    const builder = new PromptBuilder('{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}', { eos_token: '</s>' }, codec);
    expect(builder.render([{ role: 'user', content: 'x' }])).toBe('<user>x</s>');
    expect(DEFAULT_CHAT_TEMPLATE).toContain('add_generation_prompt');
  });

  it('drops the oldest turns first, keeping the system prompt and the newest message', () => {
    const builder = new PromptBuilder(undefined, {}, codec);
    const messages: ChatMessage[] = [
      { role: 'system', content: 'SYSTEM RULES' },
      ...Array.from({ length: 20 }, (_, i) => ({ role: (i % 2 ? 'assistant' : 'user') as ChatMessage['role'], content: `message number ${i} with some padding words` })),
    ];
    const fitted = builder.fit({ messages }, 80);
    const text = codec.decode(fitted.ids);
    expect(fitted.ids.length).toBeLessThanOrEqual(80);
    expect(fitted.droppedMessages).toBeGreaterThan(0);
    expect(text.startsWith('SYSTEM RULES')).toBe(true);
    expect(text).toContain('message number 19');
    expect(text).not.toContain('message number 0 ');
  });

  it('shortens a single message that alone is too long, keeping its end', () => {
    const builder = new PromptBuilder(undefined, {}, codec);
    const content = `${'old words '.repeat(200)}THE QUESTION`;
    const fitted = builder.fit({ messages: [{ role: 'user', content }] }, 50);
    expect(fitted.ids.length).toBeLessThanOrEqual(50);
    expect(fitted.truncated).toBe(true);
    expect(codec.decode(fitted.ids)).toContain('THE QUESTION');
  });

  it('reserves room for the reply, but never more than half the window', () => {
    expect(promptBudget(256, 100)).toBe(156);
    expect(promptBudget(256, 10_000)).toBe(128);
  });
});

describe('continuations', () => {
  it('appends reply text already produced after the rendered prompt', () => {
    const builder = new PromptBuilder(undefined, {}, codec);
    const messages: ChatMessage[] = [{ role: 'user', content: 'Count' }];
    const plain = builder.fit({ messages }, 100);
    const continued = builder.fit({ messages, continuation: ' one two' }, 100);
    expect(codec.decode(continued.ids)).toBe(`${codec.decode(plain.ids)} one two`);
  });
});
