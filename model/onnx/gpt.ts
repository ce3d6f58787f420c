import { headDim, LAYER_NORM_EPSILON, tensorShapes, type GptConfig } from '../presets.ts';
import type { WeightSource } from '../weights.ts';
import { GraphBuilder, MS_DOMAIN } from './graph.ts';
import { attentionBias } from './attention-bias.ts';
import { attentionContext, cachedAttention, declareNewCacheOutputs, presentOutputs } from './cached-attention.ts';
import { declareDecoderOutputs, decoderInputs, lazyWeights } from './decoder-io.ts';

/**
 * `portable`: standard ONNX operators only (opset 17), loadable by any ONNX runtime.
 * `optimized`: ONNX Runtime's fused contrib operators (SkipLayerNormalization, FastGelu,
 * FusedMatMul) and an attention that reads the KV cache where the caller keeps it, without
 * copying it (cached-attention.ts). Its batches are right-padded; the portable graph's are
 * left-padded.
 */
export type Flavour = 'portable' | 'optimized';
export const FLAVOURS: readonly Flavour[] = ['portable', 'optimized'];

/** Names follow Optimum's decoder exports, which @huggingface/transformers expects. */
export const io = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  pastKey: (i: number) => `past_key_values.${i}.key`,
  pastValue: (i: number) => `past_key_values.${i}.value`,
  logits: 'logits',
  presentKey: (i: number) => `present.${i}.key`,
  presentValue: (i: number) => `present.${i}.value`,
} as const;

export function buildGptGraph(weights: WeightSource, flavour: Flavour): GraphBuilder {
  const c: GptConfig = weights.config;
  const d = c.width;
  const hd = headDim(c);
  const g = new GraphBuilder(`gptql-gpt2-${flavour}`);
  const shapes = tensorShapes(c);
  const w = lazyWeights(g, shapes, (name) => `transformer.${name}`, (name) => weights.tensor(name));

  const decoder = { layers: c.layers, kvHeads: c.heads, headDim: hd, vocab: c.vocab };
  const { ids, mask, pos, past } = decoderInputs(g, decoder);

  const embedded = g.op(
    'Add',
    [g.op('Gather', [w('wte.weight'), ids], {}, 'tok_emb'), g.op('Gather', [w('wpe.weight'), pos], {}, 'pos_emb')],
    {},
    'embedded',
  );

  const layerNorm = (x: string, name: string): string =>
    g.op('LayerNormalization', [x, w(`${name}.weight`), w(`${name}.bias`)], { axis: -1, epsilon: { f: LAYER_NORM_EPSILON } }, name);
  const linear = (x: string, name: string, bias = true): string => {
    const y = g.op('MatMul', [x, w(`${name}.weight`)], {}, name);
    return bias ? g.op('Add', [y, w(`${name}.bias`)], {}, `${name}.out`) : y;
  };
  const geluTanh = (x: string): string => {
    // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): GPT-2's gelu_new, from opset-17 operators.
    const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
    const inner = g.op('Add', [x, g.op('Mul', [cube, g.float(0.044715)])]);
    const t = g.op('Tanh', [g.op('Mul', [inner, g.float(Math.sqrt(2 / Math.PI))])]);
    return g.op('Mul', [g.op('Mul', [x, g.float(0.5)]), g.op('Add', [t, g.float(1)])], {}, 'gelu');
  };
  let x = embedded;
  if (flavour === 'portable') {
    const attnBias = attentionBias(g, ids, mask);
    const splitSizes = g.int64s([d, d, d], 'qkv_split');
    const scale = g.float(1 / Math.sqrt(hd), 'attn_scale');
    const heads = g.int64s([0, 0, c.heads, hd], 'heads_shape');
    const merged = g.int64s([0, 0, d], 'merged_shape');
    const toHeads = (x: string): string => g.op('Transpose', [g.op('Reshape', [x, heads])], { perm: [0, 2, 1, 3] });
    for (let i = 0; i < c.layers; i++) {
      const p = `h.${i}.`;
      const h = layerNorm(x, `${p}ln_1`);
      const [q, k, v] = g.node('Split', [linear(h, `${p}attn.c_attn`), splitSizes], ['q', 'k', 'v'], { axis: 2 });
      const keys = g.node('Concat', [past[i]!.key, toHeads(k!)], [io.presentKey(i)], { axis: 2 })[0]!;
      const values = g.node('Concat', [past[i]!.value, toHeads(v!)], [io.presentValue(i)], { axis: 2 })[0]!;
      const scores = g.op('MatMul', [g.op('Mul', [toHeads(q!), scale]), g.op('Transpose', [keys], { perm: [0, 1, 3, 2] })]);
      const probs = g.op('Softmax', [g.op('Add', [scores, attnBias])], { axis: -1 });
      const ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, values])], { perm: [0, 2, 1, 3] }), merged]);
      x = g.op('Add', [x, linear(ctx, `${p}attn.c_proj`)], {}, 'residual');
      const fc = geluTanh(linear(layerNorm(x, `${p}ln_2`), `${p}mlp.c_fc`));
      x = g.op('Add', [x, linear(fc, `${p}mlp.c_proj`)], {}, 'residual');
    }
    x = layerNorm(x, 'ln_f');
  } else {
    // SkipLayerNormalization adds the residual and the projection's bias and normalizes in one
    // pass; its fourth output is the un-normalized sum, the next residual stream.
    const skipNorm = (y: string, residual: string, norm: string, bias: string): [string, string] => {
      const [normed, , , sum] = g.node(
        'SkipLayerNormalization',
        [y, residual, w(`${norm}.weight`), w(`${norm}.bias`), w(bias)],
        [`${norm}.skip`, '', '', 'residual'],
        { epsilon: { f: LAYER_NORM_EPSILON } },
        MS_DOMAIN,
      );
      return [normed!, sum!];
    };
    const attention = attentionContext(g, ids, mask, past[0]!.key, { heads: c.heads, kvHeads: c.heads, headDim: hd });
    let h = layerNorm(x, 'h.0.ln_1');
    for (let i = 0; i < c.layers; i++) {
      const p = `h.${i}.`;
      const [q, k, v] = g.node('Split', [linear(h, `${p}attn.c_attn`), g.int64s([d, d, d], 'qkv_split')], ['q', 'k', 'v'], { axis: 2 });
      const ctx = cachedAttention(g, [q!, k!, v!], past[i]!, attention, i);
      [h, x] = skipNorm(linear(ctx, `${p}attn.c_proj`, false), x, `${p}ln_2`, `${p}attn.c_proj.bias`);
      const fc = g.op('FastGelu', [linear(h, `${p}mlp.c_fc`, false), w(`${p}mlp.c_fc.bias`)], {}, 'gelu', MS_DOMAIN);
      const next = i + 1 < c.layers ? `h.${i + 1}.ln_1` : 'ln_f';
      [h, x] = skipNorm(linear(fc, `${p}mlp.c_proj`, false), x, next, `${p}mlp.c_proj.bias`);
    }
    x = h;
    presentOutputs(g, attention, past, c.layers);
  }

  // Tied LM head: the same wte initializer, transposed (ORT folds the Transpose at load).
  g.node('MatMul', [x, g.op('Transpose', [w('wte.weight')], { perm: [1, 0] }, 'lm_head')], [io.logits]);
  declareDecoderOutputs(g, decoder);
  if (flavour === 'optimized') declareNewCacheOutputs(g, decoder);
  return g;
}
