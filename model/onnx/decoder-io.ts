/**
 * What every decoder graph we build shares: the Optimum-style inputs and outputs (names in
 * `io`, gpt.ts), and parameters declared on first use.
 */
import { io } from './gpt.ts';
import { ElemType, type GraphBuilder } from './graph.ts';

export interface DecoderShape {
  layers: number;
  /** Heads of the KV cache (the query heads when there is no grouping). */
  kvHeads: number;
  headDim: number;
  vocab: number;
}

export interface DecoderInputs {
  ids: string;
  mask: string;
  pos: string;
  past: { key: string; value: string }[];
}

/** input_ids, attention_mask, position_ids and past_key_values.{i}.key/value [batch, kv_heads, past, head_dim]. */
export function decoderInputs(g: GraphBuilder, s: DecoderShape): DecoderInputs {
  const { INT64, FLOAT } = ElemType;
  const pastShape = ['batch_size', s.kvHeads, 'past_sequence_length', s.headDim];
  return {
    ids: g.input(io.inputIds, INT64, ['batch_size', 'sequence_length']),
    mask: g.input(io.attentionMask, INT64, ['batch_size', 'total_sequence_length']),
    pos: g.input(io.positionIds, INT64, ['batch_size', 'sequence_length']),
    past: Array.from({ length: s.layers }, (_, i) => ({
      key: g.input(io.pastKey(i), FLOAT, pastShape),
      value: g.input(io.pastValue(i), FLOAT, pastShape),
    })),
  };
}

/** Declares logits and present.{i}.key/value as the graph's outputs (the nodes produce them under those names). */
export function declareDecoderOutputs(g: GraphBuilder, s: DecoderShape): void {
  const { FLOAT } = ElemType;
  const presentShape = ['batch_size', s.kvHeads, 'total_sequence_length', s.headDim];
  g.output(io.logits, FLOAT, ['batch_size', 'sequence_length', s.vocab]);
  for (let i = 0; i < s.layers; i++) {
    g.output(io.presentKey(i), FLOAT, presentShape);
    g.output(io.presentValue(i), FLOAT, presentShape);
  }
}

/**
 * `w(name)`: the graph input of parameter `name` (shape from `shapes`, stored as `onnxName(name)`),
 * declared once however often it is used; its values are read only when the graph is serialized.
 */
export function lazyWeights(g: GraphBuilder, shapes: ReadonlyMap<string, number[]>, onnxName: (name: string) => string, load: (name: string) => Float32Array): (name: string) => string {
  const declared = new Map<string, string>();
  return (name) => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`no tensor ${name}`);
    let id = declared.get(name);
    if (!id) {
      id = g.weight(onnxName(name), shape, () => load(name));
      declared.set(name, id);
    }
    return id;
  };
}
