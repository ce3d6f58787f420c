/**
 * Which files of a Hub repository make a model folder gptql serves with one MODEL_DTYPE:
 * configuration, tokenizer, chat template, and that dtype's ONNX file with its external data.
 * Weights in other formats (safetensors, other dtypes' ONNX files) are left on the Hub.
 */
import { MODEL_DTYPES, isExternalDataOf, variantFileNames, type ModelDtype } from '../../src/inference/model-variants.ts';
import { PullError, PullErrorCode } from './errors.ts';
import type { HubFile } from './client.ts';

/** readModelFolder cannot do without these. */
export const REQUIRED_FILES = ['config.json', 'tokenizer.json'] as const;

/** Taken when the repository has them. */
export const OPTIONAL_FILES = [
  'generation_config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'chat_template.json',
] as const;

const ONNX_DIR = 'onnx/';

/** The dtypes a listing has an ONNX file for, in MODEL_DTYPES order. */
export function availableDtypes(files: readonly HubFile[]): ModelDtype[] {
  const names = new Set(files.map((f) => f.path));
  return MODEL_DTYPES.filter((dtype) => variantFileNames(dtype).some((name) => names.has(ONNX_DIR + name)));
}

export function selectFiles(repo: string, files: readonly HubFile[], dtype: ModelDtype): HubFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const model = variantFileNames(dtype).find((name) => byPath.has(ONNX_DIR + name));
  if (!model) {
    const available = availableDtypes(files);
    throw new PullError(
      PullErrorCode.NO_VARIANT,
      available.length > 0
        ? `${repo} has no ${dtype} variant (${variantFileNames(dtype).map((n) => ONNX_DIR + n).join(' or ')}); this repo has: ${available.join(', ')} (choose one with --dtype)`
        : `${repo} has no ONNX model under onnx/ (onnx/model.onnx or a variant such as onnx/model_q4.onnx): gptql serves ONNX exports; look for an ONNX copy of the model (onnx-community publishes many) or export it with Optimum`,
    );
  }
  const missing = REQUIRED_FILES.filter((name) => !byPath.has(name));
  if (missing.length > 0) {
    throw new PullError(PullErrorCode.MISSING_FILE, `${repo} has no ${missing.join(' or ')}: not a model folder gptql can serve`);
  }
  const externalData = files.filter((f) => {
    if (!f.path.startsWith(ONNX_DIR)) return false;
    const name = f.path.slice(ONNX_DIR.length);
    // Names come from the server and become local paths: a nested path is never external data.
    return !name.includes('/') && !name.includes('\\') && isExternalDataOf(model, name);
  });
  return [
    ...REQUIRED_FILES.map((name) => byPath.get(name)!),
    ...OPTIONAL_FILES.flatMap((name) => byPath.get(name) ?? []),
    byPath.get(ONNX_DIR + model)!,
    ...externalData.sort((a, b) => a.path.localeCompare(b.path)),
  ];
}
