/**
 * A decoder's weight count from its config.json, per architecture family, because published
 * ONNX folders carry no float checkpoint to count (and quantized files pack their weights).
 * Unknown families give null rather than a guess.
 */
type Config = Record<string, unknown>;

const num = (config: Config, ...keys: string[]): number | undefined => {
  for (const key of keys) {
    const value = config[key];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return undefined;
};

/** Llama, Mistral, Qwen2, Phi-3, SmolLM (a Llama): RMSNorm, gated MLP, optional q/k/v biases. */
function llamaLike(config: Config, modelType: string): number | undefined {
  const hidden = num(config, 'hidden_size');
  const layers = num(config, 'num_hidden_layers');
  const heads = num(config, 'num_attention_heads');
  const inter = num(config, 'intermediate_size');
  const vocab = num(config, 'vocab_size');
  if (!hidden || !layers || !heads || !inter || !vocab) return undefined;
  const kvHeads = num(config, 'num_key_value_heads') ?? heads;
  const headDim = num(config, 'head_dim') ?? hidden / heads;
  const qkvBias = modelType === 'qwen2' || config.attention_bias === true;
  const q = hidden * heads * headDim + (qkvBias ? heads * headDim : 0);
  const kv = 2 * (hidden * kvHeads * headDim + (qkvBias ? kvHeads * headDim : 0));
  const o = heads * headDim * hidden + (config.attention_bias === true ? hidden : 0);
  const mlp = 3 * hidden * inter + (config.mlp_bias === true ? 2 * inter + hidden : 0);
  const perLayer = q + kv + o + mlp + 2 * hidden;
  const embeddings = vocab * hidden * (config.tie_word_embeddings === true ? 1 : 2);
  return embeddings + layers * perLayer + hidden;
}

/** GPT-2: LayerNorm with biases, learned positions, 4× MLP by default, tied LM head. */
function gpt2(config: Config): number | undefined {
  const hidden = num(config, 'n_embd', 'hidden_size');
  const layers = num(config, 'n_layer', 'num_hidden_layers');
  const vocab = num(config, 'vocab_size');
  const positions = num(config, 'n_positions', 'max_position_embeddings');
  if (!hidden || !layers || !vocab || !positions) return undefined;
  const inner = num(config, 'n_inner') ?? 4 * hidden;
  const attention = hidden * 3 * hidden + 3 * hidden + hidden * hidden + hidden;
  const mlp = hidden * inner + inner + inner * hidden + hidden;
  const perLayer = attention + mlp + 4 * hidden;
  const head = config.tie_word_embeddings === false ? vocab * hidden : 0;
  return vocab * hidden + positions * hidden + layers * perLayer + 2 * hidden + head;
}

export function parameterCount(config: Config): number | null {
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const count = ['llama', 'mistral', 'qwen2', 'phi3'].includes(modelType) ? llamaLike(config, modelType) : modelType === 'gpt2' ? gpt2(config) : undefined;
  return count === undefined ? null : Math.round(count);
}
