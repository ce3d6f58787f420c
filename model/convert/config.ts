/**
 * config.json of a Hugging Face decoder, read into the one shape the converter builds from.
 * Every field the graph depends on is resolved here, once, with transformers' defaults; what
 * the graph cannot reproduce exactly is refused here with the field that says so, so that a
 * conversion never produces a model that runs but computes something else.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'phi3', 'gpt2'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

export class ConvertError extends Error {
  override readonly name = 'ConvertError';
}

/** Rotary frequency scaling; `default` is plain RoPE. */
export type RopeScaling =
  | { type: 'default' }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface LlamaFamilyConfig {
  modelType: Exclude<ModelType, 'gpt2'>;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  rmsNormEps: number;
  vocab: number;
  maxPositions: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (qwen2 always; llama/mistral with `attention_bias`). */
  qkvBias: boolean;
  /** o_proj bias (llama/mistral `attention_bias` covers it too). */
  oBias: boolean;
  /** gate/up/down biases (llama `mlp_bias`). */
  mlpBias: boolean;
  ropeTheta: number;
  /** How many leading dimensions of each head rotate (head_dim × partial_rotary_factor). */
  rotaryDim: number;
  rope: RopeScaling;
  /** Keys further back than this many cache slots are not attended to (mistral, phi3). */
  slidingWindow?: number;
}

export interface Gpt2Config {
  modelType: 'gpt2';
  layers: number;
  heads: number;
  width: number;
  context: number;
  vocab: number;
}

export type HfConfig = LlamaFamilyConfig | Gpt2Config;

type Json = Record<string, unknown>;

const num = (c: Json, key: string): number | undefined => (typeof c[key] === 'number' ? (c[key] as number) : undefined);

function positiveInt(c: Json, key: string, fallback?: number): number {
  const v = num(c, key) ?? fallback;
  if (v === undefined) throw new ConvertError(`config.json: ${key} is missing`);
  if (!Number.isInteger(v) || v <= 0) throw new ConvertError(`config.json: ${key} must be a positive integer, got ${v}`);
  return v;
}

/**
 * transformers 5 keeps rotary settings in `rope_parameters` (theta included); transformers 4
 * had `rope_theta` beside `rope_scaling`. Both are read; the newer wins where both are present.
 */
function readRope(c: Json): { theta: number; scaling: RopeScaling } {
  const params = (c.rope_parameters ?? undefined) as Json | undefined;
  const legacy = (c.rope_scaling ?? undefined) as Json | undefined;
  // transformers 5 may key rope_parameters by layer type ({ full_attention: {…}, … }).
  if (params && Object.values(params).some((v) => v !== null && typeof v === 'object')) {
    throw new ConvertError(`config.json: rope_parameters per layer type (${Object.keys(params).join(', ')}) are not supported`);
  }
  const theta = num(params ?? {}, 'rope_theta') ?? num(c, 'rope_theta') ?? 10000;
  const scaling = { ...legacy, ...params };
  const type = (scaling.rope_type ?? scaling.type ?? 'default') as string;
  if (type === 'default') return { theta, scaling: { type: 'default' } };
  if (type === 'llama3') {
    const get = (key: string): number => {
      const v = num(scaling, key);
      if (v === undefined) throw new ConvertError(`config.json: llama3 rope scaling needs ${key}`);
      return v;
    };
    const s: RopeScaling = {
      type: 'llama3',
      factor: get('factor'),
      lowFreqFactor: get('low_freq_factor'),
      highFreqFactor: get('high_freq_factor'),
      originalMaxPositions: get('original_max_position_embeddings'),
    };
    if (s.highFreqFactor <= s.lowFreqFactor) throw new ConvertError('config.json: llama3 rope scaling needs high_freq_factor > low_freq_factor');
    return { theta, scaling: s };
  }
  throw new ConvertError(`config.json: rope scaling type "${type}" is not supported (supported: default, llama3)`);
}

function readLlamaFamily(c: Json, modelType: LlamaFamilyConfig['modelType']): LlamaFamilyConfig {
  const act = c.hidden_act ?? c.hidden_activation ?? 'silu';
  if (act !== 'silu') throw new ConvertError(`config.json: hidden_act "${String(act)}" is not supported (SwiGLU with silu only)`);
  const hidden = positiveInt(c, 'hidden_size');
  const heads = positiveInt(c, 'num_attention_heads');
  const kvHeads = positiveInt(c, 'num_key_value_heads', heads);
  if (heads % kvHeads !== 0) throw new ConvertError(`config.json: ${heads} attention heads are not a multiple of ${kvHeads} key/value heads`);
  if (c.head_dim == null && hidden % heads !== 0) throw new ConvertError(`config.json: hidden_size ${hidden} is not divisible by ${heads} heads`);
  const headDim = positiveInt(c, 'head_dim', Math.floor(hidden / heads));
  const partial = num(c, 'partial_rotary_factor') ?? num((c.rope_parameters ?? {}) as Json, 'partial_rotary_factor') ?? 1;
  const rotaryDim = Math.floor(headDim * partial);
  if (partial <= 0 || partial > 1 || rotaryDim % 2 !== 0) {
    throw new ConvertError(`config.json: partial_rotary_factor ${partial} gives ${rotaryDim} rotary dimensions of ${headDim}; need an even number > 0`);
  }
  const maxPositions = positiveInt(c, 'max_position_embeddings');
  const { theta, scaling } = readRope(c);

  // Sliding-window attention: mistral and phi3 apply `sliding_window` to every layer; qwen2 only
  // with `use_sliding_window` and then per layer (max_window_layers), which we do not build;
  // llama has none (transformers ignores the key there).
  let slidingWindow: number | undefined;
  const window = num(c, 'sliding_window');
  if (modelType === 'qwen2') {
    if (c.use_sliding_window === true) throw new ConvertError('config.json: qwen2 use_sliding_window (per-layer sliding windows) is not supported');
  } else if (window !== undefined && modelType !== 'llama') {
    // A window that covers the whole context changes nothing; a smaller one becomes part of the
    // attention mask (as transformers' masks do, over cache positions).
    if (window < maxPositions) slidingWindow = window;
  }
  // transformers 5 lists each layer's kind; all full, or all sliding with a window, we build.
  if (Array.isArray(c.layer_types)) {
    const kinds = new Set(c.layer_types);
    const uniform = kinds.size === 1 && (kinds.has('full_attention') || (kinds.has('sliding_attention') && window !== undefined));
    if (!uniform) throw new ConvertError(`config.json: layer_types ${JSON.stringify(c.layer_types)} is not supported (one attention kind for every layer)`);
  }

  const attentionBias = c.attention_bias === true;
  const mlpBias = c.mlp_bias === true;
  if (modelType === 'phi3' && (attentionBias || mlpBias)) throw new ConvertError('config.json: phi3 with attention_bias or mlp_bias is not supported');
  return {
    modelType,
    layers: positiveInt(c, 'num_hidden_layers'),
    hidden,
    heads,
    kvHeads,
    headDim,
    intermediate: positiveInt(c, 'intermediate_size'),
    rmsNormEps: num(c, 'rms_norm_eps') ?? 1e-6,
    vocab: positiveInt(c, 'vocab_size'),
    maxPositions,
    // LlamaConfig, MistralConfig, Qwen2Config and Phi3Config all default to an untied head.
    tieWordEmbeddings: c.tie_word_embeddings === true,
    qkvBias: modelType === 'qwen2' || attentionBias,
    oBias: modelType !== 'qwen2' && attentionBias,
    mlpBias,
    ropeTheta: theta,
    rotaryDim,
    rope: scaling,
    slidingWindow,
  };
}

/** GPT-2 goes to the existing graph (model/onnx/gpt.ts), which has fixed numerics: check them. */
function readGpt2(c: Json): Gpt2Config {
  const eps = num(c, 'layer_norm_epsilon') ?? 1e-5;
  if (Math.abs(eps - 1e-5) > 1e-12) throw new ConvertError(`config.json: gpt2 layer_norm_epsilon ${eps} is not supported (the GPT-2 graph uses 1e-5)`);
  const act = c.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw new ConvertError(`config.json: gpt2 activation_function "${String(act)}" is not supported (the GPT-2 graph uses gelu_new)`);
  }
  const width = positiveInt(c, 'n_embd');
  const heads = positiveInt(c, 'n_head');
  if (c.n_inner != null && c.n_inner !== 4 * width) throw new ConvertError(`config.json: gpt2 n_inner ${String(c.n_inner)} is not supported (4 × n_embd only)`);
  if (c.scale_attn_weights === false) throw new ConvertError('config.json: gpt2 scale_attn_weights false is not supported');
  if (c.scale_attn_by_inverse_layer_idx === true || c.reorder_and_upcast_attn === true) {
    throw new ConvertError('config.json: gpt2 scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported');
  }
  if (c.tie_word_embeddings === false) throw new ConvertError('config.json: gpt2 with an untied LM head is not supported');
  if (width % heads !== 0) throw new ConvertError(`config.json: n_embd ${width} is not divisible by n_head ${heads}`);
  return { modelType: 'gpt2', layers: positiveInt(c, 'n_layer'), heads, width, context: positiveInt(c, 'n_positions'), vocab: positiveInt(c, 'vocab_size') };
}

export function normalizeConfig(c: Json): HfConfig {
  const type = c.model_type;
  if (typeof type !== 'string' || !(MODEL_TYPES as readonly string[]).includes(type)) {
    throw new ConvertError(`config.json: model_type ${JSON.stringify(type)} is not supported (supported: ${MODEL_TYPES.join(', ')})`);
  }
  if (type === 'gpt2') return readGpt2(c);
  return readLlamaFamily(c, type as LlamaFamilyConfig['modelType']);
}

export function readHfConfig(dir: string): { raw: Json; config: HfConfig } {
  let raw: Json;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Json;
  } catch (error) {
    throw new ConvertError(`${join(dir, 'config.json')}: ${(error as Error).message}`);
  }
  return { raw, config: normalizeConfig(raw) };
}
