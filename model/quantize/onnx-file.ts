/**
 * Reading and writing whole ONNX files with their external data, for the quantizer. No npm
 * package reads ONNX external data or writes it back; onnx-proto gives the messages, and the
 * external data convention (ONNX's `external_data` keys: location, offset, length) is small.
 */
import { closeSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import { fromHalf } from '../fp16.ts';

const { onnx } = onnxProto;
export type ModelProto = onnxProto.onnx.ModelProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export const DataType = onnx.TensorProto.DataType;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

/** Protobuf messages cannot exceed 2 GiB; leave room for the graph itself (as model/onnx/graph.ts). */
export const EMBED_LIMIT = 1.9 * 2 ** 30;
/** Tensors smaller than this stay inside the model file even when weights go external (as onnx's own save does). */
const EXTERNAL_MIN_BYTES = 1024;
const EXTERNAL_ALIGN = 4096;

export interface LoadedModel {
  model: ModelProto;
  /** Folder external data locations are relative to. */
  dir: string;
  /** Whether any initializer lives in an external data file. */
  external: boolean;
}

export function loadModel(file: string): LoadedModel {
  const size = statSync(file).size;
  if (size > 2 ** 31 - 1) throw new Error(`${file} is ${size} bytes: an ONNX protobuf cannot exceed 2 GiB (weights belong in external data)`);
  const model = onnx.ModelProto.decode(readFileSync(file));
  const external = (model.graph?.initializer ?? []).some((t) => t.dataLocation === EXTERNAL);
  return { model, dir: dirname(resolve(file)), external };
}

export const dimsOf = (t: ITensorProto): number[] => (t.dims ?? []).map(Number);
export const elementCount = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Bytes per element of the tensor types the project reads and writes (4-bit types pack two per byte). */
export const BYTES_PER_ELEMENT: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.FLOAT16]: 2,
  [DataType.BFLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  21: 0.5, // UINT4 (not in onnx-proto's enum)
  22: 0.5, // INT4
};

function externalEntry(t: ITensorProto, key: string): string | undefined {
  return t.externalData?.find((e) => e.key === key)?.value ?? undefined;
}

/** The bytes of an external tensor, read from its data file; the location may not leave the model's folder. */
function readExternal(t: ITensorProto, dir: string): Uint8Array {
  const location = externalEntry(t, 'location');
  if (!location) throw new Error(`initializer ${t.name} is external but names no location`);
  const path = resolve(dir, location);
  if (!path.startsWith(dir + sep)) throw new Error(`initializer ${t.name}: external data ${location} lies outside ${dir}`);
  const offset = Number(externalEntry(t, 'offset') ?? 0);
  const per = BYTES_PER_ELEMENT[t.dataType ?? 0];
  const length = Number(externalEntry(t, 'length') ?? (per ? Math.ceil(per * elementCount(dimsOf(t))) : NaN));
  if (!Number.isFinite(length)) throw new Error(`initializer ${t.name}: external data without a length`);
  const out = new Uint8Array(length);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new Error(`${path} ends before initializer ${t.name} (offset ${offset}, length ${length})`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

const copyBytes = (view: ArrayBufferView) => new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer);

/** The serialized bytes of a tensor, wherever the file keeps them (raw_data, typed fields, external). */
export function tensorBytes(t: ITensorProto, dir: string): Uint8Array {
  if (t.dataLocation === EXTERNAL) return readExternal(t, dir);
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const count = elementCount(dimsOf(t));
  switch (t.dataType) {
    case DataType.FLOAT:
      return copyBytes(Float32Array.from(t.floatData ?? []));
    case DataType.FLOAT16:
      // float16 values sit in int32_data, one per element (the ONNX spec's rule for 16-bit types).
      return copyBytes(Uint16Array.from(t.int32Data ?? []));
    default:
      if (count === 0) return new Uint8Array(0);
      throw new Error(`initializer ${t.name}: data type ${t.dataType} stored in typed fields is not supported here`);
  }
}

/** A float tensor's values as float32 (float16 is widened), copied into aligned memory. */
export function floatValues(t: ITensorProto, dir: string): Float32Array {
  const bytes = tensorBytes(t, dir);
  // A copy: protobuf bytes are views into the file buffer at any offset, and Float32Array needs 4-byte alignment.
  if (t.dataType === DataType.FLOAT) return new Float32Array(copyBytes(bytes).buffer);
  if (t.dataType === DataType.FLOAT16) return fromHalf(new Uint16Array(copyBytes(bytes).buffer));
  throw new Error(`initializer ${t.name} is not a float tensor (data type ${t.dataType})`);
}

export interface SaveOptions {
  /** Folder the input's external data locations are relative to. */
  sourceDir: string;
  /**
   * Put initializers of 1 KiB or more in this file beside the model (4 KiB aligned), under the
   * name the model will reference; undefined embeds everything.
   */
  external?: { path: string; location: string };
}

/** Writes the model, reading each initializer from wherever the source kept it. */
export function saveModel(model: ModelProto, file: string, opts: SaveOptions): void {
  const graph = model.graph!;
  const initializers = graph.initializer ?? [];
  if (!opts.external) {
    graph.initializer = initializers.map((t) => (t.dataLocation === EXTERNAL ? embedded(t, tensorBytes(t, opts.sourceDir)) : t));
    writeWhole(file, onnx.ModelProto.encode(model).finish());
    return;
  }
  const { location } = opts.external;
  const fd = openSync(opts.external.path, 'w');
  let offset = 0;
  try {
    graph.initializer = initializers.map((t) => {
      const bytes = tensorBytes(t, opts.sourceDir);
      if (bytes.length < EXTERNAL_MIN_BYTES) return embedded(t, bytes);
      const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
      if (pad) writeAll(fd, new Uint8Array(pad));
      offset += pad;
      writeAll(fd, bytes);
      const out = withoutData(t);
      out.dataLocation = EXTERNAL;
      out.externalData = [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ];
      offset += bytes.length;
      return out;
    });
  } finally {
    closeSync(fd);
  }
  writeWhole(file, onnx.ModelProto.encode(model).finish());
}

function withoutData(t: ITensorProto): onnxProto.onnx.TensorProto {
  return onnx.TensorProto.create({ name: t.name, dataType: t.dataType, dims: t.dims, docString: t.docString });
}

function embedded(t: ITensorProto, bytes: Uint8Array): onnxProto.onnx.TensorProto {
  const out = withoutData(t);
  out.rawData = bytes;
  return out;
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

function writeWhole(file: string, bytes: Uint8Array): void {
  const fd = openSync(file, 'w');
  try {
    writeAll(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** Bytes the model's initializers take, wherever they are stored. */
export function initializerBytes(model: ModelProto): number {
  return (model.graph?.initializer ?? []).reduce((sum, t) => {
    if (t.dataLocation === EXTERNAL) return sum + Number(externalEntry(t, 'length') ?? 0);
    if (t.rawData?.length) return sum + t.rawData.length;
    return sum + (BYTES_PER_ELEMENT[t.dataType ?? 0] ?? 4) * elementCount(dimsOf(t));
  }, 0);
}
