/**
 * Where a model folder keeps its chat template. transformers 5 writes `chat_template.jinja`;
 * transformers 4 kept it in `tokenizer_config.json` as `chat_template`, either one string or a
 * list of named templates (`[{ name: 'default', template }, { name: 'tool_use', … }]`), and some
 * 4.4x releases wrote `chat_template.json` (`{ "chat_template": "…" }`). The first found wins,
 * in that order, as in transformers.
 */
import fs from 'node:fs';
import path from 'node:path';

export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

interface NamedTemplate {
  name: string;
  template: string;
}

const isNamedTemplate = (value: unknown): value is NamedTemplate =>
  typeof value === 'object' && value !== null && typeof (value as NamedTemplate).name === 'string' && typeof (value as NamedTemplate).template === 'string';

/** The template a `chat_template` value holds: a string, or the `default` one of a named list. */
export function templateFromValue(value: unknown, source: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    if (!value.every(isNamedTemplate)) throw new ChatTemplateError(`${source}: chat_template is a list whose entries are not { name, template }`);
    const chosen = value.find((t) => t.name === 'default');
    if (!chosen) throw new ChatTemplateError(`${source}: chat_template has no template named "default" (it has: ${value.map((t) => t.name).join(', ')})`);
    return chosen.template;
  }
  throw new ChatTemplateError(`${source}: chat_template must be a string or a list of { name, template }`);
}

/** The folder's chat template, or undefined when it has none. */
export function readChatTemplate(dir: string, tokenizerConfig: Record<string, unknown>): string | undefined {
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return fs.readFileSync(jinja, 'utf8');
  const fromConfig = templateFromValue(tokenizerConfig.chat_template, 'tokenizer_config.json');
  if (fromConfig !== undefined) return fromConfig;
  const json = path.join(dir, 'chat_template.json');
  if (!fs.existsSync(json)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(json, 'utf8'));
  } catch (error) {
    throw new ChatTemplateError(`chat_template.json is not valid JSON (${(error as Error).message})`);
  }
  return templateFromValue((parsed as { chat_template?: unknown }).chat_template, 'chat_template.json');
}
