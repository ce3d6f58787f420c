/**
 * Hugging Face Llama-family tensor names → the graph's tensors (layout.ts). Everything is
 * checked before anything is converted: every tensor the config implies must be present with
 * its shape, and a tensor nobody reads is an error too (it means the config does not describe
 * this checkpoint, e.g. biases the config does not announce).
 */
import type { LlamaFamilyConfig } from './config.ts';
import { ConvertError } from './config.ts';
import type { Checkpoint } from './checkpoint.ts';
import { transpose } from '../quantize/blockwise.ts';
import { projectionSizes, type LlamaWeights } from './layout.ts';

/** Buffers some checkpoints carry that are not parameters (recomputed from the config). */
const IGNORED = /\.rotary_emb\.inv_freq$/;

/** The checkpoint tensors the config implies, with their shapes ([out, in] for linear layers). */
export function expectedHfTensors(c: LlamaFamilyConfig): Map<string, number[]> {
  const { q, kv } = projectionSizes(c);
  const d = c.hidden;
  const I = c.intermediate;
  const m = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocab, d]]]);
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}input_layernorm.weight`, [d]);
    m.set(`${p}post_attention_layernorm.weight`, [d]);
    if (c.modelType === 'phi3') {
      m.set(`${p}self_attn.qkv_proj.weight`, [q + 2 * kv, d]);
      m.set(`${p}mlp.gate_up_proj.weight`, [2 * I, d]);
    } else {
      for (const [name, out] of [['q', q], ['k', kv], ['v', kv]] as const) {
        m.set(`${p}self_attn.${name}_proj.weight`, [out, d]);
        if (c.qkvBias) m.set(`${p}self_attn.${name}_proj.bias`, [out]);
      }
      m.set(`${p}mlp.gate_proj.weight`, [I, d]);
      m.set(`${p}mlp.up_proj.weight`, [I, d]);
      if (c.mlpBias) {
        m.set(`${p}mlp.gate_proj.bias`, [I]);
        m.set(`${p}mlp.up_proj.bias`, [I]);
      }
    }
    m.set(`${p}self_attn.o_proj.weight`, [d, q]);
    if (c.oBias) m.set(`${p}self_attn.o_proj.bias`, [d]);
    m.set(`${p}mlp.down_proj.weight`, [d, I]);
    if (c.mlpBias) m.set(`${p}mlp.down_proj.bias`, [d]);
  }
  m.set('model.norm.weight', [d]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocab, d]);
  return m;
}

function checkTensors(ckpt: Checkpoint, expected: Map<string, number[]>, c: LlamaFamilyConfig): void {
  const missing = [...expected.keys()].filter((n) => !ckpt.names.has(n));
  if (missing.length > 0) {
    throw new ConvertError(`the checkpoint lacks ${missing.length} tensor(s) a ${c.modelType} with this config.json has: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  for (const [name, shape] of expected) {
    const got = ckpt.shape(name);
    if (got.join(',') !== shape.join(',')) throw new ConvertError(`tensor ${name} is [${got.join(', ')}]; config.json implies [${shape.join(', ')}]`);
  }
  // A tied checkpoint may still store lm_head.weight (a copy of the embedding): not read.
  const unexpected = [...ckpt.names].filter((n) => !expected.has(n) && !IGNORED.test(n) && !(c.tieWordEmbeddings && n === 'lm_head.weight'));
  if (unexpected.length > 0) {
    throw new ConvertError(`the checkpoint has ${unexpected.length} tensor(s) a ${c.modelType} with this config.json does not: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}`);
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hfLlamaWeights(ckpt: Checkpoint, c: LlamaFamilyConfig): LlamaWeights {
  const expected = expectedHfTensors(c);
  checkTensors(ckpt, expected, c);
  // Linear weights are [out, in]; stacking several along `out` and transposing once gives the
  // fused [in, out₁+out₂+…] MatMul weight.
  const linear = (...names: string[]): Float32Array => {
    const rows = names.reduce((a, n) => a + expected.get(n)![0]!, 0);
    const cols = expected.get(names[0]!)![1]!;
    return transpose(concat(names.map((n) => ckpt.read(n))), rows, cols);
  };
  return {
    config: c,
    tensor(name) {
      if (name === 'embed') return ckpt.read('model.embed_tokens.weight');
      if (name === 'norm') return ckpt.read('model.norm.weight');
      if (name === 'lm_head') return linear('lm_head.weight');
      const match = /^layers\.(\d+)\.(\w+)$/.exec(name);
      if (!match) throw new ConvertError(`no tensor ${name}`);
      const p = `model.layers.${match[1]}.`;
      const attn = `${p}self_attn.`;
      switch (match[2]) {
        case 'input_norm':
          return ckpt.read(`${p}input_layernorm.weight`);
        case 'post_norm':
          return ckpt.read(`${p}post_attention_layernorm.weight`);
        case 'qkv':
          return c.modelType === 'phi3' ? linear(`${attn}qkv_proj.weight`) : linear(`${attn}q_proj.weight`, `${attn}k_proj.weight`, `${attn}v_proj.weight`);
        case 'qkv_bias':
          return concat(['q', 'k', 'v'].map((x) => ckpt.read(`${attn}${x}_proj.bias`)));
        case 'o':
          return linear(`${attn}o_proj.weight`);
        case 'o_bias':
          return ckpt.read(`${attn}o_proj.bias`);
        case 'gate_up':
          // phi3's fused gate_up_proj is gate rows then up rows, the order we stack them in.
          return c.modelType === 'phi3' ? linear(`${p}mlp.gate_up_proj.weight`) : linear(`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`);
        case 'gate_up_bias':
          return concat([ckpt.read(`${p}mlp.gate_proj.bias`), ckpt.read(`${p}mlp.up_proj.bias`)]);
        case 'down':
          return linear(`${p}mlp.down_proj.weight`);
        case 'down_bias':
          return ckpt.read(`${p}mlp.down_proj.bias`);
        default:
          throw new ConvertError(`no tensor ${name}`);
      }
    },
  };
}
