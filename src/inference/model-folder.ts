/**
 * Reads a decoder model folder as transformers 4 and 5, Optimum and the onnx-community /
 * transformers.js exports publish it: config.json, generation_config.json, tokenizer.json,
 * tokenizer_config.json, the chat template (see chat-template.ts) and onnx/<variant>.onnx with
 * its external weights beside it (ONNX Runtime opens those itself, by the name the model holds).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readChatTemplate } from './chat-template.ts';
import { findVariant, type ModelDtype } from './model-variants.ts';
import { parameterCount } from './parameter-count.ts';
import type { ModelDefaults } from './params.ts';

export interface ModelFolder {
  dir: string;
  /** Name shown to clients: the folder's name. */
  name: string;
  onnxPath: string;
  /** config.json's architecture, e.g. LlamaForCausalLM. */
  architecture: string;
  dtype: ModelDtype;
  parameters: number | null;
  contextLength: number;
  vocabSize: number;
  /** Rotary base (`rope_parameters.rope_theta` in transformers 5, `rope_theta` before), if the model has one. */
  ropeTheta?: number;
  eosTokenIds: number[];
  chatTemplate?: string;
  /** bos_token, eos_token… as strings, for the chat template. */
  specialTokens: Record<string, string>;
  /** What a plain prompt gets around it (see `promptSpecialTokens`). */
  promptSpecials: PromptSpecials;
  defaults: ModelDefaults;
  tokenizer: Tokenizer;
}

/**
 * `tokenizer.json`'s own post-processor, unless tokenizer_config.json says `add_bos_token` or
 * `add_eos_token`: transformers then rebuilds the post-processor from those flags (a BOS before
 * and an EOS after the text), so they win.
 */
export type PromptSpecials = { kind: 'post-processor' } | { kind: 'flags'; bos?: number; eos?: number };

export class ModelFolderError extends Error {
  constructor(dir: string, problem: string) {
    super(`Model folder ${dir}: ${problem}`);
    this.name = 'ModelFolderError';
  }
}

function readJson(dir: string, file: string, required: boolean): Record<string, unknown> {
  const full = path.join(dir, file);
  if (!fs.existsSync(full)) {
    if (required) throw new ModelFolderError(dir, `missing ${file}`);
    return {};
  }
  try {
    return JSON.parse(fs.readFileSync(full, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ModelFolderError(dir, `${file} is not valid JSON (${(error as Error).message})`);
  }
}

const firstNumber = (...values: unknown[]) => values.find((v): v is number => typeof v === 'number' && v > 0);
const idList = (value: unknown): number[] =>
  typeof value === 'number' ? [value] : Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : [];

/** A special token's text: tokenizer_config.json gives either a string or an AddedToken object. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

function ropeTheta(config: Record<string, unknown>): number | undefined {
  const parameters = config.rope_parameters as Record<string, unknown> | undefined;
  return firstNumber(parameters?.rope_theta, config.rope_theta);
}

function promptSpecialTokens(tokenizerConfig: Record<string, unknown>, specialTokens: Record<string, string>, tokenizer: Tokenizer): PromptSpecials {
  const { add_bos_token: addBos, add_eos_token: addEos } = tokenizerConfig;
  if (typeof addBos !== 'boolean' && typeof addEos !== 'boolean') return { kind: 'post-processor' };
  const id = (text: string | undefined) => (text === undefined ? undefined : tokenizer.token_to_id(text));
  return { kind: 'flags', bos: addBos === true ? id(specialTokens.bos_token) : undefined, eos: addEos === true ? id(specialTokens.eos_token) : undefined };
}

/**
 * Sampling defaults from generation_config.json, under the request's own parameters. As in
 * transformers, `do_sample: false` means greedy decoding whatever temperature it also names.
 */
function samplingDefaults(generation: Record<string, unknown>, contextLength: number): ModelDefaults {
  const number = (key: string) => (typeof generation[key] === 'number' ? (generation[key] as number) : undefined);
  return {
    maxTokens: Math.min(256, contextLength),
    temperature: generation.do_sample === false ? 0 : (number('temperature') ?? 0.8),
    topK: number('top_k') ?? 0,
    topP: number('top_p') ?? 1,
    repetitionPenalty: number('repetition_penalty') ?? 1,
  };
}

export function readModelFolder(dir: string, dtype: ModelDtype = 'fp32'): ModelFolder {
  const resolved = path.resolve(dir);
  if (!fs.existsSync(resolved)) throw new ModelFolderError(resolved, 'does not exist');
  const config = readJson(resolved, 'config.json', true);
  const generation = readJson(resolved, 'generation_config.json', false);
  const tokenizerJson = readJson(resolved, 'tokenizer.json', true);
  const tokenizerConfig = readJson(resolved, 'tokenizer_config.json', false);

  const contextLength = firstNumber(config.n_positions, config.max_position_embeddings, config.n_ctx, tokenizerConfig.model_max_length);
  if (!contextLength) throw new ModelFolderError(resolved, 'config.json gives no context length (n_positions or max_position_embeddings)');
  const vocabSize = firstNumber(config.vocab_size);
  if (!vocabSize) throw new ModelFolderError(resolved, 'config.json gives no vocab_size');

  const specialTokens: Record<string, string> = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const text = tokenText(tokenizerConfig[key]);
    if (text !== undefined) specialTokens[key] = text;
  }
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  // Chat models end a turn with a token of their own (<|eot_id|>, <|im_end|>) that
  // generation_config.json lists beside config.json's end-of-text: either ends the reply.
  const eosTokenIds = [...new Set([...idList(generation.eos_token_id), ...idList(config.eos_token_id)])];
  if (eosTokenIds.length === 0 && specialTokens.eos_token) {
    const id = tokenizer.token_to_id(specialTokens.eos_token);
    if (id !== undefined) eosTokenIds.push(id);
  }

  let onnxPath: string;
  let chatTemplate: string | undefined;
  try {
    onnxPath = findVariant(resolved, dtype);
    chatTemplate = readChatTemplate(resolved, tokenizerConfig);
  } catch (error) {
    throw new ModelFolderError(resolved, (error as Error).message);
  }
  const architectures = config.architectures;
  return {
    dir: resolved,
    name: path.basename(resolved),
    onnxPath,
    architecture: Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : String(config.model_type ?? 'unknown'),
    dtype,
    parameters: parameterCount(config),
    contextLength,
    vocabSize,
    ropeTheta: ropeTheta(config),
    eosTokenIds,
    chatTemplate,
    specialTokens,
    promptSpecials: promptSpecialTokens(tokenizerConfig, specialTokens, tokenizer),
    defaults: samplingDefaults(generation, contextLength),
    tokenizer,
  };
}

/** The encoder the prompt builder and the streaming decoder use. */
export function textCodec(tokenizer: Tokenizer, promptSpecials: PromptSpecials = { kind: 'flags' }) {
  const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  return {
    /** Text whose special tokens are written in it: a rendered chat template, a continuation. */
    encode,
    /** A plain prompt, with the special tokens the model's tokenizer puts around text. */
    encodePrompt: (text: string): number[] => {
      if (promptSpecials.kind === 'post-processor') return tokenizer.encode(text, { add_special_tokens: true }).ids;
      const { bos, eos } = promptSpecials;
      return [...(bos === undefined ? [] : [bos]), ...encode(text), ...(eos === undefined ? [] : [eos])];
    },
    // The tokenizer refuses an empty list; the streaming decoder asks for one at every start.
    decode: (ids: readonly number[]) => (ids.length === 0 ? '' : tokenizer.decode([...ids], { skip_special_tokens: true })),
  };
}

export type TextCodec = ReturnType<typeof textCodec>;
