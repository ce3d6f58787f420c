/**
 * Reads a decoder model folder in the Hugging Face layout (ours and Optimum exports alike):
 * config.json, generation_config.json, tokenizer.json, tokenizer_config.json, onnx/*.onnx.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelDefaults } from './params.ts';
import type { ModelDtype } from './model-variants.ts';

export interface ModelFolder {
  dir: string;
  /** Name shown to clients: the folder's name. */
  name: string;
  onnxPath: string;
  architecture: string;
  dtype: ModelDtype;
  parameters: number | null;
  contextLength: number;
  vocabSize: number;
  eosTokenIds: number[];
  chatTemplate?: string;
  /** bos_token, eos_token… as strings, for the chat template. */
  specialTokens: Record<string, string>;
  defaults: ModelDefaults;
  tokenizer: Tokenizer;
}

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

function findOnnx(dir: string): string {
  const onnxDir = path.join(dir, 'onnx');
  const preferred = ['model.onnx', 'decoder_model_merged.onnx', 'decoder_with_past_model.onnx'];
  for (const name of preferred) if (fs.existsSync(path.join(onnxDir, name))) return path.join(onnxDir, name);
  const any = fs.existsSync(onnxDir) ? fs.readdirSync(onnxDir).filter((f) => f.endsWith('.onnx')).sort() : [];
  if (any.length === 0) throw new ModelFolderError(dir, 'no onnx/*.onnx file');
  return path.join(onnxDir, any[0]!);
}

export function readModelFolder(dir: string): ModelFolder {
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
  const eosTokenIds = idList(generation.eos_token_id ?? config.eos_token_id);
  if (eosTokenIds.length === 0 && specialTokens.eos_token) {
    const id = tokenizer.token_to_id(specialTokens.eos_token);
    if (id !== undefined) eosTokenIds.push(id);
  }

  return {
    dir: resolved,
    name: path.basename(resolved),
    onnxPath: findOnnx(resolved),
    architecture: Array.isArray(config.architectures) && typeof config.architectures[0] === 'string' ? config.architectures[0] : String(config.model_type ?? 'unknown'),
    dtype: 'fp32',
    parameters: null,
    contextLength,
    vocabSize,
    eosTokenIds,
    chatTemplate: typeof tokenizerConfig.chat_template === 'string' ? tokenizerConfig.chat_template : undefined,
    specialTokens,
    defaults: {
      maxTokens: Math.min(256, contextLength),
      temperature: typeof generation.temperature === 'number' ? generation.temperature : 0.8,
      topK: typeof generation.top_k === 'number' ? generation.top_k : 0,
      topP: typeof generation.top_p === 'number' ? generation.top_p : 1,
      repetitionPenalty: typeof generation.repetition_penalty === 'number' ? generation.repetition_penalty : 1,
    },
    tokenizer,
  };
}

/** The encoder the prompt builder and the streaming decoder use. */
export function textCodec(tokenizer: Tokenizer) {
  return {
    encode: (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    // The tokenizer refuses an empty list; the streaming decoder asks for one at every start.
    decode: (ids: readonly number[]) => (ids.length === 0 ? '' : tokenizer.decode([...ids], { skip_special_tokens: true })),
  };
}
