/**
 * A Hugging Face GPT-2 checkpoint (single or sharded) as the WeightSource our GPT-2 graph
 * (model/onnx/gpt.ts) reads: the same Conv1D [in, out] layout, so tensors pass through as
 * stored. Both key styles occur: `transformer.h.0…` (GPT2LMHeadModel) and `h.0…` (GPT2Model).
 */
import { tensorShapes, type GptConfig } from '../presets.ts';
import type { WeightSource } from '../weights.ts';
import type { Checkpoint } from './checkpoint.ts';
import { ConvertError, type Gpt2Config } from './config.ts';

/** Causal-mask buffers older checkpoints store, and the tied LM head's copy: not parameters. */
const IGNORED = /(^|\.)attn\.(bias|masked_bias)$|^lm_head\.weight$/;

export function hfGpt2Weights(ckpt: Checkpoint, c: Gpt2Config): WeightSource {
  const config: GptConfig = { layers: c.layers, heads: c.heads, width: c.width, context: c.context, vocab: c.vocab };
  const names = new Map<string, string>();
  for (const key of ckpt.names) {
    const name = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
    if (!IGNORED.test(name)) names.set(name, key);
  }
  const expected = tensorShapes(config);
  const missing = [...expected.keys()].filter((n) => !names.has(n));
  if (missing.length > 0) throw new ConvertError(`the checkpoint lacks ${missing.length} tensor(s) a gpt2 with this config.json has: ${missing.slice(0, 5).join(', ')}`);
  for (const [name, shape] of expected) {
    const got = ckpt.shape(names.get(name)!);
    if (got.join(',') !== shape.join(',')) throw new ConvertError(`tensor ${names.get(name)} is [${got.join(', ')}]; config.json implies [${shape.join(', ')}]`);
  }
  const unexpected = [...names.values()].filter((key) => !expected.has(key.replace(/^transformer\./, '')));
  if (unexpected.length > 0) throw new ConvertError(`the checkpoint has ${unexpected.length} tensor(s) a gpt2 with this config.json does not: ${unexpected.slice(0, 5).join(', ')}`);
  return { config, tensor: (name) => ckpt.read(names.get(name) ?? name) };
}
