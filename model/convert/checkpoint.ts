/**
 * A Hugging Face safetensors checkpoint, single-file or sharded, as one set of named tensors.
 * Sharded checkpoints name each tensor's shard in model.safetensors.index.json; every shard is
 * opened once and tensors are read one at a time, on request, so a multi-gigabyte checkpoint is
 * never held in memory whole.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../safetensors.ts';
import { ConvertError } from './config.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface Checkpoint {
  /** Every tensor name in the checkpoint. */
  readonly names: ReadonlySet<string>;
  shape(name: string): number[];
  /** The tensor as float32 (F32, F16 and BF16 are read). */
  read(name: string): Float32Array;
  close(): void;
}

export function openCheckpoint(dir: string): Checkpoint {
  const files = new Map<string, SafetensorsFile>();
  const where = new Map<string, SafetensorsFile>();
  const open = (file: string): SafetensorsFile => {
    let f = files.get(file);
    if (!f) {
      const path = join(dir, file);
      if (!existsSync(path)) throw new ConvertError(`${path} is missing (named by ${INDEX_FILE})`);
      f = new SafetensorsFile(path);
      files.set(file, f);
    }
    return f;
  };
  try {
    if (existsSync(join(dir, INDEX_FILE))) {
      const index = JSON.parse(readFileSync(join(dir, INDEX_FILE), 'utf8')) as { weight_map?: Record<string, string> };
      if (!index.weight_map) throw new ConvertError(`${join(dir, INDEX_FILE)} has no weight_map`);
      for (const [name, file] of Object.entries(index.weight_map)) {
        const f = open(file);
        if (!f.entries.has(name)) throw new ConvertError(`${file} does not hold ${name}, which ${INDEX_FILE} places there`);
        where.set(name, f);
      }
    } else if (existsSync(join(dir, SINGLE_FILE))) {
      const f = open(SINGLE_FILE);
      for (const name of f.entries.keys()) where.set(name, f);
    } else {
      throw new ConvertError(`${dir} has neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
    }
  } catch (error) {
    for (const f of files.values()) f.close();
    throw error;
  }
  const file = (name: string): SafetensorsFile => {
    const f = where.get(name);
    if (!f) throw new ConvertError(`the checkpoint has no tensor ${name}`);
    return f;
  };
  return {
    names: new Set(where.keys()),
    shape: (name) => [...file(name).entries.get(name)!.shape],
    read: (name) => file(name).read(name),
    close: () => {
      for (const f of files.values()) f.close();
    },
  };
}
