/**
 * The tensors our Llama-family graph is built from, under names of our own, in the orientation
 * the graph uses them: MatMul weights [in, out] (so that the quantizer finds constant MatMul
 * weights), q/k/v fused into one projection and gate/up into another (one MatMul each instead
 * of three and two: fewer kernel launches per decoded token).
 */
import type { LlamaFamilyConfig } from './config.ts';

export interface LlamaWeights {
  readonly config: LlamaFamilyConfig;
  /** Float32 data of one tensor of `llamaTensorShapes(config)`. */
  tensor(name: string): Float32Array;
}

export const projectionSizes = (c: LlamaFamilyConfig) => ({ q: c.heads * c.headDim, kv: c.kvHeads * c.headDim });

export function llamaTensorShapes(c: LlamaFamilyConfig): Map<string, number[]> {
  const { q, kv } = projectionSizes(c);
  const d = c.hidden;
  const shapes = new Map<string, number[]>([['embed', [c.vocab, d]]]);
  for (let i = 0; i < c.layers; i++) {
    const p = `layers.${i}.`;
    shapes.set(`${p}input_norm`, [d]);
    shapes.set(`${p}qkv`, [d, q + 2 * kv]);
    if (c.qkvBias) shapes.set(`${p}qkv_bias`, [q + 2 * kv]);
    shapes.set(`${p}o`, [q, d]);
    if (c.oBias) shapes.set(`${p}o_bias`, [d]);
    shapes.set(`${p}post_norm`, [d]);
    shapes.set(`${p}gate_up`, [d, 2 * c.intermediate]);
    if (c.mlpBias) shapes.set(`${p}gate_up_bias`, [2 * c.intermediate]);
    shapes.set(`${p}down`, [c.intermediate, d]);
    if (c.mlpBias) shapes.set(`${p}down_bias`, [d]);
  }
  shapes.set('norm', [d]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head', [d, c.vocab]);
  return shapes;
}

export function llamaParameterCount(c: LlamaFamilyConfig): number {
  let n = 0;
  for (const shape of llamaTensorShapes(c).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
