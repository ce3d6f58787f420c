/**
 * The model folders the dtype benchmark compares, built once into a cache folder and reused by
 * later runs: per preset, random weights in the optimized flavour stored as float32 (with its
 * q4 and int8 variants quantized beside it by model/quantize) and stored as float16 (cast to
 * float32 when the session loads); for the shipped default model, a copy with its float16
 * weights widened to float32 storage, the shipped file itself as the fp16 row, and its q4 and
 * int8 variants (the shipped ones when the folder has them).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { weightProgress } from '../../model/weight-progress.ts';
import { preset, randomWeights, writeModelFolder, type PresetName } from '../../model/index.ts';
import { quantizeFolder } from '../../model/quantize/index.ts';
import { DataType, floatValues, loadModel, saveModel } from '../../model/quantize/onnx-file.ts';

type NodeProto = NonNullable<NonNullable<ReturnType<typeof loadModel>['model']['graph']>['node']>[number];
import { findVariant, variantFileNames, type ModelDtype } from '../../src/inference/model-variants.ts';

export const BENCH_DTYPES = ['fp32', 'fp16', 'int8', 'q4'] as const;
export type BenchDtype = (typeof BENCH_DTYPES)[number];

export interface Variant {
  model: string;
  dtype: BenchDtype;
  /** Folder and MODEL_DTYPE that serve it (the fp16-weights rows are a folder's plain model.onnx). */
  dir: string;
  serveAs: ModelDtype;
  file: string;
  fileBytes: number;
}

const COMPLETE = '.bench-complete';

function progressBar(label: string): ReturnType<typeof weightProgress> {
  // cli-progress draws nothing when stderr is not a terminal: say at least what is going on.
  if (!process.stderr.isTTY) console.error(`${label}…`);
  return weightProgress(label);
}

function buildPreset(dir: string, size: PresetName, dtype: 'fp32' | 'fp16'): void {
  if (existsSync(join(dir, COMPLETE))) return;
  rmSync(dir, { recursive: true, force: true });
  const bar = progressBar(`building ${size} ${dtype}`);
  try {
    writeModelFolder(dir, randomWeights(preset(size), { seed: 1 }), { flavour: 'optimized', dtype, onWeight: bar.onWeight });
  } finally {
    bar.stop();
  }
  writeFileSync(join(dir, COMPLETE), '');
}

/** Quantizes once per settings: a marker beside the variant records the block size it was made with. */
function quantized(dir: string, dtype: 'q4' | 'int8', blockSize: number): void {
  const settings = `block ${blockSize}`;
  const marker = join(dir, `.bench-${dtype}`);
  if (existsSync(join(dir, 'onnx', variantFileNames(dtype)[0]!)) && existsSync(marker) && readFileSync(marker, 'utf8') === settings) return;
  const bar = progressBar(`quantizing ${dtype} (${settings})`);
  try {
    quantizeFolder(dir, { dtype, blockSize, force: true, onWeight: (done, total, tensor) => bar.onWeight(tensor, done, total) });
  } finally {
    bar.stop();
  }
  writeFileSync(marker, settings);
}

/**
 * Rewrites `src` with every float16 initializer that is only cast to float32 stored as float32
 * instead, its Casts turned into Identity: the graph computes the same, from float32 storage.
 */
export function widenFloat16Weights(src: string, dst: string): void {
  const { model, dir } = loadModel(src);
  const graph = model.graph!;
  const consumers = (name: string) => (graph.node ?? []).filter((n) => n.input?.includes(name));
  const isCastToFloat = (n: NodeProto) => n.opType === 'Cast' && Number(n.attribute?.find((a) => a.name === 'to')?.i ?? 0) === DataType.FLOAT;
  graph.initializer = (graph.initializer ?? []).map((t) => {
    const users = consumers(t.name!);
    if (t.dataType !== DataType.FLOAT16 || users.length === 0 || !users.every(isCastToFloat)) return t;
    for (const cast of users) {
      cast.opType = 'Identity';
      cast.attribute = [];
    }
    const values = floatValues(t, dir);
    return { name: t.name, dims: t.dims, dataType: DataType.FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  });
  saveModel(model, dst, { sourceDir: dir });
}

function variant(model: string, dtype: BenchDtype, dir: string, serveAs: ModelDtype): Variant {
  const file = findVariant(dir, serveAs);
  return { model, dtype, dir, serveAs, file, fileBytes: statSync(file).size };
}

export function presetVariants(cache: string, size: PresetName, dtypes: readonly BenchDtype[], blockSize: number): Variant[] {
  const fp32 = join(cache, `${size}-fp32`);
  const fp16 = join(cache, `${size}-fp16`);
  const out: Variant[] = [];
  for (const dtype of dtypes) {
    if (dtype === 'fp16') {
      buildPreset(fp16, size, 'fp16');
      out.push(variant(size, dtype, fp16, 'fp32'));
      continue;
    }
    buildPreset(fp32, size, 'fp32');
    if (dtype !== 'fp32') quantized(fp32, dtype, blockSize);
    out.push(variant(size, dtype, fp32, dtype));
  }
  return out;
}

/** The default model's variants: `fp32` is a widened copy, `fp16` the shipped model.onnx. */
export function defaultVariants(cache: string, defaultDir: string, dtypes: readonly BenchDtype[], blockSize: number): Variant[] {
  const copy = join(cache, 'default-fp32');
  if (!existsSync(join(copy, COMPLETE))) {
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(join(copy, 'onnx'), { recursive: true });
    cpSync(defaultDir, copy, { recursive: true, filter: (src) => !src.includes('/onnx/') });
    widenFloat16Weights(join(defaultDir, 'onnx', 'model.onnx'), join(copy, 'onnx', 'model.onnx'));
    writeFileSync(join(copy, COMPLETE), '');
  }
  const out: Variant[] = [];
  for (const dtype of dtypes) {
    if (dtype === 'fp16') {
      out.push(variant('default', dtype, defaultDir, 'fp32'));
      continue;
    }
    if (dtype === 'fp32') {
      out.push(variant('default', dtype, copy, 'fp32'));
      continue;
    }
    // The shipped variant when there is one: quantized from the same float16-stored weights.
    const shipped = join(defaultDir, 'onnx', variantFileNames(dtype)[0]!);
    if (existsSync(shipped)) out.push(variant('default', dtype, defaultDir, dtype));
    else {
      const q = join(cache, 'default-fp16');
      if (!existsSync(join(q, COMPLETE))) {
        rmSync(q, { recursive: true, force: true });
        cpSync(defaultDir, q, { recursive: true });
        writeFileSync(join(q, COMPLETE), '');
      }
      quantized(q, dtype, blockSize);
      out.push(variant('default', dtype, q, dtype));
    }
  }
  return out;
}

