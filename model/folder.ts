import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAYER_NORM_EPSILON } from './presets.ts';
import type { WeightSource } from './weights.ts';
import { buildGptGraph, type Flavour } from './onnx/gpt.ts';
import type { SerializeOptions, WeightDtype } from './onnx/graph.ts';
import { dtypeOfFile, isExternalDataOf } from '../src/inference/model-variants.ts';

export const DEFAULT_TOKENIZER = new URL('./default/tokenizer.json', import.meta.url).pathname;
const EOS = '<|endoftext|>';

export interface FolderOptions {
  flavour: Flavour;
  dtype: WeightDtype;
  tokenizerPath?: string;
  /** Force weights into model.onnx_data; by default only models over 2 GB use it. */
  externalData?: boolean;
  onWeight?: SerializeOptions['onWeight'];
  /** Free-form provenance written into config.json under `gptql`. */
  provenance?: Record<string, unknown>;
}

export interface ModelFolder {
  dir: string;
  modelPath: string;
  externalData: boolean;
}

interface TokenizerJson {
  added_tokens?: { id: number; content: string }[];
  model?: { vocab?: Record<string, number> };
}

/** The end-of-text id, after checking that every id the tokenizer can produce has an embedding row. */
function checkTokenizer(tokenizerPath: string, vocab: number): number {
  const tok = JSON.parse(readFileSync(tokenizerPath, 'utf8')) as TokenizerJson;
  const id = tok.added_tokens?.find((t) => t.content === EOS)?.id;
  if (id === undefined) throw new Error(`${tokenizerPath} has no ${EOS} token`);
  const ids = [...Object.values(tok.model?.vocab ?? {}), ...(tok.added_tokens ?? []).map((t) => t.id)];
  const largest = Math.max(...ids);
  if (largest >= vocab) {
    throw new Error(`${tokenizerPath} produces ids up to ${largest}, but the model has only ${vocab} embeddings`);
  }
  return id;
}

/**
 * Removes every model variant under `onnxDir` (and their external data): a folder rebuilt from
 * other weights must not keep serving the old ones under another MODEL_DTYPE.
 */
export function removeVariants(onnxDir: string): void {
  const files = readdirSync(onnxDir);
  const models = files.filter((f) => dtypeOfFile(f) !== undefined);
  for (const f of files) {
    if (models.some((m) => m === f || isExternalDataOf(m, f))) rmSync(join(onnxDir, f), { force: true });
  }
}

/**
 * Writes the folder layout that Hugging Face tools (Optimum exports, @huggingface/transformers)
 * read: config.json as a gpt2 model, generation and tokenizer configs, onnx/model.onnx.
 */
export function writeModelFolder(dir: string, weights: WeightSource, opts: FolderOptions): ModelFolder {
  const c = weights.config;
  const tokenizerPath = opts.tokenizerPath ?? DEFAULT_TOKENIZER;
  const eos = checkTokenizer(tokenizerPath, c.vocab);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  removeVariants(join(dir, 'onnx'));

  const graph = buildGptGraph(weights, opts.flavour);
  const modelPath = join(dir, 'onnx', 'model.onnx');
  const bytes = graph.serialize({
    dtype: opts.dtype,
    weights: opts.externalData ? 'external' : 'auto',
    externalPath: `${modelPath}_data`,
    onWeight: opts.onWeight,
  });
  writeFileSync(modelPath, bytes);
  const externalData = opts.externalData ?? graph.weightBytes(opts.dtype) > 1.9 * 2 ** 30;

  const config = {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocab,
    n_positions: c.context,
    n_ctx: c.context,
    n_embd: c.width,
    n_layer: c.layers,
    n_head: c.heads,
    n_inner: null,
    activation_function: 'gelu_new',
    layer_norm_epsilon: LAYER_NORM_EPSILON,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    initializer_range: 0.02,
    bos_token_id: eos,
    eos_token_id: eos,
    tie_word_embeddings: true,
    use_cache: true,
    torch_dtype: opts.dtype === 'fp16' ? 'float16' : 'float32',
    ...(externalData ? { 'transformers.js_config': { use_external_data_format: true } } : {}),
    gptql: { flavour: opts.flavour, weights: opts.dtype, ...opts.provenance },
  };
  const json = (name: string, value: unknown): void => writeFileSync(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
  json('config.json', config);
  json('generation_config.json', { bos_token_id: eos, eos_token_id: eos, max_length: c.context });
  copyFileSync(tokenizerPath, join(dir, 'tokenizer.json'));
  json('tokenizer_config.json', {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: EOS,
    eos_token: EOS,
    unk_token: EOS,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    model_max_length: c.context,
  });
  json('special_tokens_map.json', { bos_token: EOS, eos_token: EOS, unk_token: EOS });
  return { dir, modelPath, externalData };
}
