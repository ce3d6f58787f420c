import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { basename, join } from 'node:path';
import { parameterCount, preset, PRESETS, headDim } from './presets.ts';
import { randomWeights, type WeightSource } from './weights.ts';
import { safetensorsWeights } from './checkpoint.ts';
import { writeModelFolder } from './folder.ts';
import { weightProgress } from './weight-progress.ts';
import { folderInfo, sampleFolder } from './cli-folder.ts';
import { FLAVOURS, type Flavour } from './onnx/gpt.ts';
import { CONFIG_VARIABLES } from '../src/config.ts';
import { MODEL_DTYPES, type ModelDtype } from '../src/inference/model-variants.ts';
import { DEFAULT_REVISION, pullModel } from './hub/pull.ts';
import { pullReporter } from './hub/progress.ts';
import { CLI_BLOCK_SIZES, DEFAULT_BLOCK_SIZE, QUANTIZED_DTYPES, quantizeFolder, type QuantizedDtype } from './quantize/index.ts';
import { CONVERT_DTYPES, convertCheckpoint, DEFAULT_CONVERT_FLAVOUR, type ConvertDtype } from './convert/convert.ts';
import { MODEL_TYPES } from './convert/config.ts';
import { evalTable, evaluateModel } from './eval/evaluate.ts';
import { DEFAULT_MODEL_DIR } from './default-dir.ts';

const USAGE = `usage:
  npm run model -- info [--model DIR [--dtype D]]
  npm run model -- build --size S [--from ckpt.safetensors] [--flavour portable|optimized]
                         [--dtype fp32|fp16|int8|q4] [--block-size N] [--tokenizer tokenizer.json] [--seed N]
                         [--external-data] --out DIR
      int8 and q4 write the float32 onnx/model.onnx and, beside it, the quantized variant (as quantize does)
  npm run model -- sample --model DIR [--dtype D] [--prompt TEXT | --chat TEXT [--system TEXT]]
                          [--tokens N] [--temperature T] [--seed N]
  npm run model -- eval --corpus DIR [--model model/default] [--dtype D] [--questions 200] [--prose-tokens 300]
                        [--val-tokens 20000] [--json FILE]
      the default model's evaluation on CPU (model/eval/): dictionary words in sampled prose, trained
      and held-out dictionary questions answered with a word of the definition, validation loss per
      source, from the corpus model/train/build_corpus.py wrote; --json keeps every answer
  npm run model -- pull ORG/NAME [--revision ${DEFAULT_REVISION}] [--dtype ${MODEL_DTYPES.join('|')}] [--out DIR] [--force]
      downloads from the Hugging Face Hub only what serving that dtype needs (default --dtype
      ${CONFIG_VARIABLES.MODEL_DTYPE.default}, as MODEL_DTYPE) into --out (default $DATA_DIR/models/NAME); reruns resume.
      HF_TOKEN: token for gated and private models; HF_ENDPOINT: a mirror (default https://huggingface.co)
  npm run model -- quantize DIR --dtype ${QUANTIZED_DTYPES.join('|')} [--block-size ${CLI_BLOCK_SIZES.join('|')}] [--force]
      writes DIR/onnx/model_q4.onnx or model_int8.onnx (4- or 8-bit MatMulNBits, block ${DEFAULT_BLOCK_SIZE} by default)
      from DIR/onnx/model.onnx; embeddings stay float32
  npm run model -- convert HF_FOLDER --out DIR [--dtype ${CONVERT_DTYPES.join('|')}] [--flavour portable|optimized] [--force]
      converts a Hugging Face checkpoint folder (config.json + model.safetensors, or shards with
      model.safetensors.index.json; model_type ${MODEL_TYPES.join(', ')}) into a model folder:
      DIR/onnx/model.onnx (fp16: weights stored as float16) and the checkpoint's config and tokenizer
      files; int8|q4 also write that variant. --flavour defaults to ${DEFAULT_CONVERT_FLAVOUR} (ONNX Runtime's fused
      operators); portable uses standard opset-17 operators only`;

function info(): void {
  const rows = Object.entries(PRESETS).map(([name, c]) => ({
    preset: name,
    layers: c.layers,
    heads: c.heads,
    width: c.width,
    'head dim': headDim(c),
    context: c.context,
    vocab: c.vocab,
    parameters: parameterCount(c).toLocaleString('en-US'),
  }));
  console.table(rows);
}

function build(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: 'string' },
      from: { type: 'string' },
      flavour: { type: 'string', default: 'optimized' },
      dtype: { type: 'string', default: 'fp32' },
      'block-size': { type: 'string' },
      tokenizer: { type: 'string' },
      seed: { type: 'string', default: '0' },
      'external-data': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  if (!values.size || !values.out) throw new Error(`--size and --out are required\n${USAGE}`);
  if (!FLAVOURS.includes(values.flavour as Flavour)) throw new Error(`--flavour must be one of ${FLAVOURS.join(', ')}`);
  const quantized = QUANTIZED_DTYPES.includes(values.dtype as QuantizedDtype) ? (values.dtype as QuantizedDtype) : undefined;
  if (values.dtype !== 'fp32' && values.dtype !== 'fp16' && !quantized) throw new Error(`--dtype must be one of fp32, fp16, ${QUANTIZED_DTYPES.join(', ')}`);
  const blockSize = quantized ? blockSizeOption(quantized, values['block-size']) : undefined;
  if (!quantized && values['block-size'] !== undefined) throw new Error('--block-size applies to --dtype q4 only');
  const base = preset(values.size);
  let weights: WeightSource & { close?: () => void };
  if (values.from) {
    weights = safetensorsWeights(values.from, base.heads);
    const c = weights.config;
    if (c.layers !== base.layers || c.width !== base.width) {
      throw new Error(`${values.from} has ${c.layers} layers of width ${c.width}; --size ${values.size} has ${base.layers} of ${base.width}`);
    }
  } else {
    weights = randomWeights(base, { seed: Number(values.seed) });
  }
  const bar = weightProgress('weights');
  const folder = writeModelFolder(values.out, weights, {
    flavour: values.flavour as Flavour,
    // A quantized build quantizes the float32 graph: the variant is made from exact weights.
    dtype: values.dtype === 'fp16' ? 'fp16' : 'fp32',
    tokenizerPath: values.tokenizer,
    externalData: values['external-data'],
    onWeight: bar.onWeight,
    provenance: { preset: values.size, source: values.from ? 'safetensors' : `random(seed=${values.seed})` },
  });
  bar.stop();
  weights.close?.();
  console.log(`wrote ${folder.dir} (${parameterCount(weights.config).toLocaleString('en-US')} parameters, ${values.flavour}, ${values.dtype})`);
  if (quantized) writeQuantized(folder.dir, quantized, blockSize!, true);
}

/** --block-size checked against the dtype: only q4 has blocks. */
function blockSizeOption(dtype: QuantizedDtype, option: string | undefined): number {
  const blockSize = Number(option ?? DEFAULT_BLOCK_SIZE);
  if (!CLI_BLOCK_SIZES.includes(blockSize as (typeof CLI_BLOCK_SIZES)[number])) throw new Error(`--block-size must be one of ${CLI_BLOCK_SIZES.join(', ')}`);
  if (option !== undefined && dtype !== 'q4') throw new Error('--block-size applies to --dtype q4 only (int8 has one scale per output channel)');
  return blockSize;
}

/** Writes DIR/onnx/model_<dtype>.onnx from DIR/onnx/model.onnx with a progress bar, and says what it did. */
function writeQuantized(dir: string, dtype: QuantizedDtype, blockSize: number, force: boolean): void {
  const bar = weightProgress('quantize');
  try {
    const result = quantizeFolder(dir, {
      dtype,
      blockSize,
      force,
      onWeight: (done, total, tensor) => bar.onWeight(tensor, done, total),
    });
    bar.stop();
    for (const s of result.skipped) console.log(`left in float32: ${s.node} (${s.reason})`);
    const form = `${dtype === 'q4' ? 4 : 8}-bit, block ${blockSize}`;
    const data = result.externalData ? ` with its weights in ${basename(result.output)}_data` : '';
    console.log(`wrote ${result.output}${data}: ${result.quantized} weight matmuls ${form}; serve it with MODEL_PATH=${dir} MODEL_DTYPE=${dtype}`);
  } finally {
    bar.stop();
  }
}

async function pull(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      revision: { type: 'string', default: DEFAULT_REVISION },
      dtype: { type: 'string', default: CONFIG_VARIABLES.MODEL_DTYPE.default },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  const [repo, ...extra] = positionals;
  if (!repo || extra.length > 0) throw new Error(`pull takes one repository id (org/name)\n${USAGE}`);
  if (!MODEL_DTYPES.includes(values.dtype as ModelDtype)) throw new Error(`--dtype must be one of ${MODEL_DTYPES.join(', ')}`);
  const dtype = values.dtype as ModelDtype;
  // The folder's name is the model name clients see, so NAME without its organisation.
  const out = values.out ?? join(process.env.DATA_DIR || CONFIG_VARIABLES.DATA_DIR.default, 'models', basename(repo));
  const reporter = pullReporter(process.stdout);
  try {
    const result = await pullModel({ repo, revision: values.revision, dtype, out, force: values.force, events: reporter.events });
    reporter.stop();
    console.log(`wrote ${result.dir}; serve it with MODEL_PATH=${result.dir} MODEL_DTYPE=${dtype}`);
  } finally {
    reporter.stop();
  }
}

function quantize(args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dtype: { type: 'string' },
      'block-size': { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  const [dir, ...extra] = positionals;
  if (!dir || extra.length > 0) throw new Error(`quantize takes one model folder\n${USAGE}`);
  if (!QUANTIZED_DTYPES.includes(values.dtype as QuantizedDtype)) throw new Error(`--dtype must be one of ${QUANTIZED_DTYPES.join(', ')}`);
  writeQuantized(dir, values.dtype as QuantizedDtype, blockSizeOption(values.dtype as QuantizedDtype, values['block-size']), values.force);
}

function convert(args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      dtype: { type: 'string', default: 'fp32' },
      flavour: { type: 'string', default: DEFAULT_CONVERT_FLAVOUR },
      force: { type: 'boolean', default: false },
    },
  });
  const [source, ...extra] = positionals;
  if (!source || extra.length > 0 || !values.out) throw new Error(`convert takes one checkpoint folder and --out\n${USAGE}`);
  if (!CONVERT_DTYPES.includes(values.dtype as ConvertDtype)) throw new Error(`--dtype must be one of ${CONVERT_DTYPES.join(', ')}`);
  if (!FLAVOURS.includes(values.flavour as Flavour)) throw new Error(`--flavour must be one of ${FLAVOURS.join(', ')}`);
  const bar = weightProgress('weights');
  try {
    const result = convertCheckpoint(source, values.out, {
      dtype: values.dtype as ConvertDtype,
      flavour: values.flavour as Flavour,
      force: values.force,
      onWeight: bar.onWeight,
    });
    bar.stop();
    const variant = result.quantized ? ` and ${basename(result.quantized.output)}` : '';
    console.log(
      `wrote ${result.dir}: ${result.config.modelType}, ${result.parameters.toLocaleString('en-US')} parameters, onnx/model.onnx${variant} (${values.flavour}); ` +
        `serve it with MODEL_PATH=${result.dir} MODEL_DTYPE=${values.dtype === 'fp16' ? 'fp32' : values.dtype}`,
    );
  } finally {
    bar.stop();
  }
}

async function evaluate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string', default: DEFAULT_MODEL_DIR },
      corpus: { type: 'string' },
      dtype: { type: 'string' },
      questions: { type: 'string', default: '200' },
      'prose-tokens': { type: 'string', default: '300' },
      'val-tokens': { type: 'string', default: '20000' },
      json: { type: 'string' },
    },
  });
  if (!values.corpus) throw new Error(`--corpus is required (the folder model/train/build_corpus.py wrote)\n${USAGE}`);
  if (values.dtype !== undefined && !MODEL_DTYPES.includes(values.dtype as ModelDtype)) throw new Error(`--dtype must be one of ${MODEL_DTYPES.join(', ')}`);
  const count = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const report = await evaluateModel({
    model: values.model,
    corpus: values.corpus,
    ...(values.dtype ? { dtype: values.dtype as ModelDtype } : {}),
    questions: count('questions', values.questions),
    proseTokens: count('prose-tokens', values['prose-tokens']),
    valTokens: count('val-tokens', values['val-tokens']),
    onProgress: (done, total) => process.stderr.write(`\rgenerating ${done}/${total}`),
  });
  process.stderr.write('\n');
  console.log(evalTable(report));
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'info':
      return rest.includes('--model') ? folderInfo(rest) : info();
    case 'build':
      return build(rest);
    case 'sample':
      if (!rest.includes('--model')) throw new Error(`--model is required\n${USAGE}`);
      return sampleFolder(rest);
    case 'eval':
      return evaluate(rest);
    case 'pull':
      return pull(rest);
    case 'quantize':
      return quantize(rest);
    case 'convert':
      return convert(rest);
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
