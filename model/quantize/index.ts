/**
 * `model quantize`: writes a model folder's 4-bit or 8-bit variant beside its float32
 * onnx/model.onnx, under the name the engine's MODEL_DTYPE reads (model-variants.ts).
 *
 * Written here rather than run through ONNX Runtime's Python tools so that a folder can be
 * quantized where only Node is installed (the worker image); no npm package does this.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { variantFileNames } from '../../src/inference/model-variants.ts';
import { BLOCK_SIZES } from './blockwise.ts';
import { EMBED_LIMIT, initializerBytes, loadModel, saveModel } from './onnx-file.ts';
import { rewriteWeightMatMuls, type RewriteOptions, type RewriteSummary, type Scheme } from './rewrite.ts';
import { matMulNBits } from './schemes.ts';

export const QUANTIZED_DTYPES = ['q4', 'int8'] as const;
export type QuantizedDtype = (typeof QUANTIZED_DTYPES)[number];
export const CLI_BLOCK_SIZES = [32, 64, 128] as const;
/**
 * ONNX Runtime's own quantizer defaults to 128 too. Measured on 124m (one process, sessions
 * alternating): block 128 decodes 1.3–1.45× faster than block 32, whose float32 scales add a
 * quarter to the bytes each token reads (4 bytes per 32 half-byte weights); see model/README.md.
 */
export const DEFAULT_BLOCK_SIZE = 128;

export interface QuantizeOptions {
  dtype: QuantizedDtype;
  /** Weights per scale along K. */
  blockSize?: number;
  /**
   * Operators to quantize. Default both MatMul and Gemm (torch.onnx exports GPT-2's Conv1D as
   * Gemm); ONNX Runtime's q4 tool does MatMul only, which `['MatMul']` reproduces.
   */
  ops?: RewriteOptions['ops'];
  /** Replace an existing output file. */
  force?: boolean;
  /** Weights in `<output>_data`: by default only when the result would not fit a 2 GiB protobuf. */
  externalData?: boolean;
  /** For measuring alternatives and for tests: a scheme to use instead of the dtype's. */
  scheme?: Scheme;
  /** File name under onnx/ to write instead of the dtype's. */
  outputName?: string;
  onWeight?: RewriteOptions['onWeight'];
}

export interface QuantizeResult extends RewriteSummary {
  input: string;
  output: string;
  externalData: boolean;
}

export class QuantizeError extends Error {
  override readonly name = 'QuantizeError';
}

/**
 * ONNX Runtime's MatMulNBits (symmetric blocks) for both: 4 bits for q4, 8 for int8. For int8,
 * DynamicQuantizeMatMul (quantize_dynamic's form) reads prompts faster on CPUs with AVX-512 VNNI,
 * but on AVX2-only CPUs its u8×s8 kernel saturates 16-bit sums: on the hf-tiny fixtures its
 * logits (and ONNX Runtime's own int8 files) land 0.6–0.8 from float32 there, against 0.05–0.07
 * for 8-bit MatMulNBits, which also decodes faster (model/README.md, "Quantizing").
 */
function schemeFor(dtype: QuantizedDtype, blockSize: number): Scheme {
  return matMulNBits(dtype === 'q4' ? 4 : 8, blockSize);
}

function removeIfPresent(...files: string[]): void {
  for (const file of files) rmSync(file, { force: true });
}

export function quantizeFolder(dir: string, opts: QuantizeOptions): QuantizeResult {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!BLOCK_SIZES.includes(blockSize as (typeof BLOCK_SIZES)[number])) throw new QuantizeError(`block size ${blockSize} is not one of ${BLOCK_SIZES.join(', ')}`);
  const input = join(dir, 'onnx', 'model.onnx');
  if (!existsSync(input)) throw new QuantizeError(`no ${input}: quantize reads a folder's float32 onnx/model.onnx`);
  const output = join(dir, 'onnx', opts.outputName ?? variantFileNames(opts.dtype)[0]!);
  const dataFile = `${output}_data`;
  if (existsSync(output) && !opts.force) throw new QuantizeError(`${output} exists; --force replaces it`);

  const { model, dir: sourceDir } = loadModel(input);
  const summary = rewriteWeightMatMuls(model, sourceDir, opts.scheme ?? schemeFor(opts.dtype, blockSize), {
    ops: opts.ops ?? new Set(['MatMul', 'Gemm']),
    onWeight: opts.onWeight,
  });
  if (summary.quantized === 0) throw new QuantizeError(`${input} has no MatMul or Gemm with a constant float weight to quantize`);

  // Written under temporary names and renamed at the end, so that a failure never leaves a
  // half-written variant the engine would pick up.
  const externalData = opts.externalData ?? initializerBytes(model) > EMBED_LIMIT;
  const partial = `${output}.partial`;
  const partialData = `${dataFile}.partial`;
  try {
    saveModel(model, partial, { sourceDir, external: externalData ? { path: partialData, location: basename(dataFile) } : undefined });
    removeIfPresent(output, dataFile);
    if (externalData) renameSync(partialData, dataFile);
    renameSync(partial, output);
  } finally {
    removeIfPresent(partial, partialData);
  }
  return { ...summary, input, output, externalData };
}
