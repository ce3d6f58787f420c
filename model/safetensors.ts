import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { fromBfloat16, fromHalf, toHalf } from './fp16.ts';

/*
 * safetensors, read and written by hand: the format is an 8-byte little-endian header length,
 * a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes. The npm
 * registry has no maintained reader for Node; a file handle with positioned reads also lets us
 * load one tensor at a time from multi-gigabyte checkpoints.
 */

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

export class SafetensorsFile {
  readonly entries: Map<string, TensorEntry>;
  readonly metadata: Record<string, string>;
  private readonly fd: number;
  private readonly dataStart: number;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    const lenBuf = Buffer.alloc(8);
    readSync(this.fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    const headerBuf = Buffer.alloc(headerLen);
    readSync(this.fd, headerBuf, 0, headerLen, 8);
    const header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    this.dataStart = 8 + headerLen;
    this.metadata = (header.__metadata__ as Record<string, string> | undefined) ?? {};
    this.entries = new Map();
    for (const [name, entry] of Object.entries(header)) {
      if (name !== '__metadata__') this.entries.set(name, entry as TensorEntry);
    }
  }

  /** The tensor as float32, whatever it is stored as. */
  read(name: string): Float32Array {
    const e = this.entries.get(name);
    if (!e) throw new Error(`${this.path} has no tensor ${name}`);
    const [start, end] = e.data_offsets;
    const bytes = Buffer.alloc(end - start);
    let done = 0;
    while (done < bytes.length) {
      const n = readSync(this.fd, bytes, done, bytes.length - done, this.dataStart + start + done);
      if (n === 0) throw new Error(`${this.path} ends inside tensor ${name}`);
      done += n;
    }
    const aligned = new Uint8Array(bytes).buffer;
    switch (e.dtype) {
      case 'F32':
        return new Float32Array(aligned);
      case 'F16':
        return fromHalf(new Uint16Array(aligned));
      case 'BF16':
        return fromBfloat16(new Uint16Array(aligned));
      default:
        throw new Error(`tensor ${name} has dtype ${e.dtype}; only F32, F16 and BF16 are read`);
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

export function writeSafetensors(
  path: string,
  tensors: Iterable<[string, number[], Float32Array]>,
  dtype: SafetensorsDtype = 'F32',
): void {
  if (dtype === 'BF16') throw new Error('writing BF16 is not supported');
  const items = [...tensors].map(([name, shape, data]) => {
    const raw = dtype === 'F16' ? toHalf(data) : data;
    return { name, shape, bytes: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) };
  });
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const it of items) {
    header[it.name] = { dtype, shape: it.shape, data_offsets: [offset, offset + it.bytes.length] };
    offset += it.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, json);
    for (const it of items) writeSync(fd, it.bytes);
  } finally {
    closeSync(fd);
  }
}
