import { SafetensorsFile } from './safetensors.ts';
import { tensorShapes, type GptConfig } from './presets.ts';
import type { WeightSource } from './weights.ts';

/** Buffers and duplicates that GPT-2 checkpoints carry but that are not parameters of ours. */
const IGNORED = /(^|\.)attn\.(bias|masked_bias)$|^lm_head\.weight$/;

/**
 * A Hugging Face GPT-2-layout safetensors checkpoint as a weight source. Both key styles occur
 * in the wild: `transformer.h.0...` (GPT2LMHeadModel) and `h.0...` (GPT2Model). The number of
 * heads is not recorded in the weights, so it comes from the caller (a preset or config.json);
 * layers, width, vocabulary and context are read off the tensors and checked.
 */
export function safetensorsWeights(path: string, heads: number): WeightSource & { close(): void } {
  const file = new SafetensorsFile(path);
  const names = new Map<string, string>();
  for (const key of file.entries.keys()) {
    const name = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
    if (!IGNORED.test(name)) names.set(name, key);
  }
  const shapeOf = (name: string): number[] => {
    const key = names.get(name);
    if (!key) throw new Error(`${path} has no tensor ${name}`);
    return file.entries.get(key)!.shape;
  };
  const [vocab, width] = shapeOf('wte.weight') as [number, number];
  const [context] = shapeOf('wpe.weight') as [number];
  let layers = 0;
  while (names.has(`h.${layers}.ln_1.weight`)) layers++;
  const config: GptConfig = { layers, heads, width, context, vocab };

  const expected = tensorShapes(config);
  for (const [name, shape] of expected) {
    const got = shapeOf(name);
    if (got.join(',') !== shape.join(',')) {
      throw new Error(`${name} in ${path} is [${got.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
  const extra = [...names.keys()].filter((n) => !expected.has(n));
  if (extra.length > 0) throw new Error(`${path} has tensors this architecture lacks: ${extra.slice(0, 5).join(', ')}`);

  return {
    config,
    tensor: (name) => file.read(names.get(name) ?? name),
    close: () => file.close(),
  };
}
