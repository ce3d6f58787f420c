/**
 * `model convert`: a Hugging Face checkpoint folder (config.json + safetensors) → a model folder
 * the engine serves and transformers.js loads: onnx/model.onnx (+ a quantized variant on
 * request) beside the checkpoint's own config, generation and tokenizer files.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildGptGraph, type Flavour } from '../onnx/gpt.ts';
import type { GraphBuilder, SerializeOptions, WeightDtype } from '../onnx/graph.ts';
import { parameterCount } from '../presets.ts';
import { quantizeFolder, type QuantizedDtype, type QuantizeResult } from '../quantize/index.ts';
import { openCheckpoint } from './checkpoint.ts';
import { ConvertError, readHfConfig, type HfConfig } from './config.ts';
import { hfGpt2Weights } from './gpt2-weights.ts';
import { hfLlamaWeights } from './hf-weights.ts';
import { llamaParameterCount } from './layout.ts';
import { buildLlamaGraph } from './llama-graph.ts';

export const CONVERT_DTYPES = ['fp32', 'fp16', 'int8', 'q4'] as const;
export type ConvertDtype = (typeof CONVERT_DTYPES)[number];
/**
 * The optimized flavour decodes faster on CPU (measured on a ~100M-parameter Llama shape,
 * model/README.md "Converting a Hugging Face checkpoint") and gives the same logits.
 */
export const DEFAULT_CONVERT_FLAVOUR: Flavour = 'optimized';

/** Copied as they are when present: what the engine and transformers.js read beside the model. */
const COPIED = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
];

export interface ConvertOptions {
  dtype?: ConvertDtype;
  flavour?: Flavour;
  /** Write into a non-empty --out (its onnx/ folder is replaced). */
  force?: boolean;
  /** Weights in onnx/model.onnx_data; by default only when over 2 GB. */
  externalData?: boolean;
  onWeight?: SerializeOptions['onWeight'];
}

export interface ConvertResult {
  dir: string;
  modelPath: string;
  config: HfConfig;
  parameters: number;
  externalData: boolean;
  quantized?: QuantizeResult;
}

/** The ONNX graph of a checkpoint folder, weights still on disk (read when serialized). */
export function checkpointGraph(source: string, flavour: Flavour): { graph: GraphBuilder; config: HfConfig; raw: Record<string, unknown>; parameters: number; close: () => void } {
  const { raw, config } = readHfConfig(source);
  const ckpt = openCheckpoint(source);
  try {
    if (config.modelType === 'gpt2') {
      const weights = hfGpt2Weights(ckpt, config);
      return { graph: buildGptGraph(weights, flavour), config, raw, parameters: parameterCount(weights.config), close: () => ckpt.close() };
    }
    return { graph: buildLlamaGraph(hfLlamaWeights(ckpt, config), flavour), config, raw, parameters: llamaParameterCount(config), close: () => ckpt.close() };
  } catch (error) {
    ckpt.close();
    throw error;
  }
}

export function convertCheckpoint(source: string, out: string, opts: ConvertOptions = {}): ConvertResult {
  const dtype = opts.dtype ?? 'fp32';
  const flavour = opts.flavour ?? DEFAULT_CONVERT_FLAVOUR;
  if (!CONVERT_DTYPES.includes(dtype)) throw new ConvertError(`dtype must be one of ${CONVERT_DTYPES.join(', ')}`);
  if (resolve(source) === resolve(out)) throw new ConvertError('--out must be another folder than the checkpoint');
  if (!existsSync(join(source, 'config.json'))) throw new ConvertError(`${source} has no config.json`);
  if (!existsSync(join(source, 'tokenizer.json'))) throw new ConvertError(`${source} has no tokenizer.json (the engine reads tokenizer.json)`);
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!opts.force) throw new ConvertError(`${out} is not empty; --force writes into it`);
    // Variants quantized from an older model.onnx would no longer match it.
    rmSync(join(out, 'onnx'), { recursive: true, force: true });
  }

  // Everything is checked (config, tensor names and shapes) before anything is written.
  const { graph, config, raw, parameters, close } = checkpointGraph(source, flavour);
  const weightDtype: WeightDtype = dtype === 'fp16' ? 'fp16' : 'fp32';
  mkdirSync(join(out, 'onnx'), { recursive: true });
  const modelPath = join(out, 'onnx', 'model.onnx');
  let externalData: boolean;
  try {
    externalData = opts.externalData ?? graph.weightBytes(weightDtype) > 1.9 * 2 ** 30;
    const bytes = graph.serialize({ dtype: weightDtype, weights: externalData ? 'external' : 'embed', externalPath: `${modelPath}_data`, onWeight: opts.onWeight });
    writeFileSync(modelPath, bytes);
  } finally {
    close();
  }

  for (const file of COPIED) if (existsSync(join(source, file))) copyFileSync(join(source, file), join(out, file));
  const outConfig = {
    ...raw,
    ...(externalData ? { 'transformers.js_config': { ...(raw['transformers.js_config'] as object | undefined), use_external_data_format: true } } : {}),
    gptql: { converted: true, flavour, weights: weightDtype },
  };
  writeFileSync(join(out, 'config.json'), `${JSON.stringify(outConfig, null, 2)}\n`);

  let quantized: QuantizeResult | undefined;
  if (dtype === 'int8' || dtype === 'q4') quantized = quantizeFolder(out, { dtype: dtype as QuantizedDtype, force: true });
  return { dir: out, modelPath, config, parameters, externalData, quantized };
}
