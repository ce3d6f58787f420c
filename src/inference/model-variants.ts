/**
 * The ONNX files a model folder may hold for one model, by MODEL_DTYPE: the names
 * transformers.js and onnx-community folders use, then Optimum's merged decoder as fallback.
 */
import fs from 'node:fs';
import path from 'node:path';

export const MODEL_DTYPES = ['fp32', 'fp16', 'int8', 'q4', 'q4f16', 'quantized'] as const;
export type ModelDtype = (typeof MODEL_DTYPES)[number];

const SUFFIX: Record<ModelDtype, string> = {
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  q4: '_q4',
  q4f16: '_q4f16',
  quantized: '_quantized',
};

/** File names (under `onnx/`) that serve `dtype`, most preferred first. */
export function variantFileNames(dtype: ModelDtype): string[] {
  const suffix = SUFFIX[dtype];
  return [`model${suffix}.onnx`, `decoder_model_merged${suffix}.onnx`];
}

/**
 * Files ONNX Runtime reads beside a model for its external weights. The exporters name them
 * `<file>_data` (torch.onnx, Optimum) or `<file>.data` (onnx's save with a location), and large
 * models split them into `<file>_data_1`, `_data_2`…
 */
export function isExternalDataOf(modelFile: string, candidate: string): boolean {
  return candidate === `${modelFile}_data` || candidate === `${modelFile}.data` || candidate.startsWith(`${modelFile}_data_`);
}

/** Which dtype a file under `onnx/` serves, if it is one of the known names. */
export function dtypeOfFile(fileName: string): ModelDtype | undefined {
  return MODEL_DTYPES.find((dtype) => variantFileNames(dtype).includes(fileName));
}

export class MissingVariantError extends Error {
  override readonly name = 'MissingVariantError';
}

const onnxFiles = (dir: string) => {
  const onnxDir = path.join(dir, 'onnx');
  return fs.existsSync(onnxDir) ? fs.readdirSync(onnxDir) : [];
};

/** The dtypes a folder can serve. */
export function availableVariants(dir: string): ModelDtype[] {
  const files = onnxFiles(dir);
  return MODEL_DTYPES.filter((d) => variantFileNames(d).some((name) => files.includes(name)));
}

/** The ONNX file of `dtype` in `dir`; MissingVariantError listing what the folder has otherwise. */
export function findVariant(dir: string, dtype: ModelDtype): string {
  const found = variantFileNames(dtype).find((name) => onnxFiles(dir).includes(name));
  if (found) return path.join(dir, 'onnx', found);
  const available = availableVariants(dir);
  throw new MissingVariantError(
    available.length > 0
      ? `no ${dtype} variant (${variantFileNames(dtype).map((n) => `onnx/${n}`).join(' or ')}); this folder has: ${available.join(', ')}`
      : 'no ONNX model under onnx/ (expected onnx/model.onnx or a variant such as onnx/model_q4.onnx)',
  );
}
