/** The GPT-2 family architecture in numbers: one place that says how big each preset is. */

export interface GptConfig {
  layers: number;
  heads: number;
  /** Residual stream width (GPT-2's n_embd). */
  width: number;
  /** Longest sequence the learned position table covers (n_positions). */
  context: number;
  vocab: number;
}

/** GPT-2's byte-level BPE vocabulary size; the 124m..1.5b presets keep it so their counts match GPT-2. */
export const GPT2_VOCAB = 50257;
/** Vocabulary of the tokenizer trained for the shipped default model (model/default/tokenizer.json). */
export const DEFAULT_VOCAB = 4096;
export const LAYER_NORM_EPSILON = 1e-5;

export const PRESETS = {
  tiny: { layers: 2, heads: 2, width: 64, context: 128, vocab: DEFAULT_VOCAB },
  '10m': { layers: 7, heads: 5, width: 320, context: 256, vocab: DEFAULT_VOCAB },
  small: { layers: 6, heads: 6, width: 384, context: 512, vocab: GPT2_VOCAB },
  '124m': { layers: 12, heads: 12, width: 768, context: 1024, vocab: GPT2_VOCAB },
  '355m': { layers: 24, heads: 16, width: 1024, context: 1024, vocab: GPT2_VOCAB },
  '774m': { layers: 36, heads: 20, width: 1280, context: 1024, vocab: GPT2_VOCAB },
  '1.5b': { layers: 48, heads: 25, width: 1600, context: 1024, vocab: GPT2_VOCAB },
  '2.7b': { layers: 32, heads: 32, width: 2560, context: 2048, vocab: GPT2_VOCAB },
} as const satisfies Record<string, GptConfig>;

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

export function preset(name: string): GptConfig {
  if (!isPresetName(name)) {
    throw new Error(`unknown size "${name}"; one of: ${Object.keys(PRESETS).join(', ')}`);
  }
  return { ...PRESETS[name] };
}

export function headDim(c: GptConfig): number {
  if (c.width % c.heads !== 0) throw new Error(`width ${c.width} is not divisible by ${c.heads} heads`);
  return c.width / c.heads;
}

/**
 * Every tensor of the model under its Hugging Face GPT-2 name (without the `transformer.`
 * prefix), in Conv1D orientation: linear weights are [in, out]. The LM head is tied to `wte`.
 */
export function tensorShapes(c: GptConfig): Map<string, number[]> {
  const d = c.width;
  const shapes = new Map<string, number[]>([
    ['wte.weight', [c.vocab, d]],
    ['wpe.weight', [c.context, d]],
  ]);
  for (let i = 0; i < c.layers; i++) {
    const p = `h.${i}.`;
    shapes.set(`${p}ln_1.weight`, [d]);
    shapes.set(`${p}ln_1.bias`, [d]);
    shapes.set(`${p}attn.c_attn.weight`, [d, 3 * d]);
    shapes.set(`${p}attn.c_attn.bias`, [3 * d]);
    shapes.set(`${p}attn.c_proj.weight`, [d, d]);
    shapes.set(`${p}attn.c_proj.bias`, [d]);
    shapes.set(`${p}ln_2.weight`, [d]);
    shapes.set(`${p}ln_2.bias`, [d]);
    shapes.set(`${p}mlp.c_fc.weight`, [d, 4 * d]);
    shapes.set(`${p}mlp.c_fc.bias`, [4 * d]);
    shapes.set(`${p}mlp.c_proj.weight`, [4 * d, d]);
    shapes.set(`${p}mlp.c_proj.bias`, [d]);
  }
  shapes.set('ln_f.weight', [d]);
  shapes.set('ln_f.bias', [d]);
  return shapes;
}

/** Closed form: embeddings + 12d²+13d per block + final LayerNorm. */
export function parameterCount(c: GptConfig): number {
  const d = c.width;
  return c.vocab * d + c.context * d + c.layers * (12 * d * d + 13 * d) + 2 * d;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
