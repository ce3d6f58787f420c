import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import onnxProto from 'onnx-proto';
import { toHalf } from '../fp16.ts';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

export const ElemType = onnx.TensorProto.DataType;
export type Dim = number | string;
export type WeightDtype = 'fp32' | 'fp16';

/** An attribute: a plain number is an int, `{ f }` a float, a number[] ints, a string a string, `{ graph }` a subgraph (If's branches). */
export type Attr = number | { f: number } | number[] | string | { graph: IGraphProto };

export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';
/** Protobuf messages cannot exceed 2 GiB; leave room for the graph itself. */
const EMBED_LIMIT = 1.9 * 2 ** 30;
const EXTERNAL_ALIGN = 4096;

interface Weight {
  name: string;
  dims: number[];
  load: () => Float32Array;
}

export interface SerializeOptions {
  dtype: WeightDtype;
  /**
   * Where weights go: inside model.onnx, in an external data file beside it (required over
   * 2 GB), or nowhere: as graph inputs, so that ONNX Runtime can check a huge graph's types
   * and shapes without the weights being allocated.
   */
  weights: 'embed' | 'external' | 'inputs' | 'auto';
  /** Path of the external data file; required when weights go external. */
  externalPath?: string;
  onWeight?: (name: string, done: number, total: number) => void;
}

function attribute(name: string, v: Attr): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('graph' in v) return { name, type: T.GRAPH, g: v.graph };
  return { name, type: T.FLOAT, f: v.f };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A thin helper over the ONNX protobuf types: node wiring, constants, and weight storage. */
export class GraphBuilder {
  private readonly nodes: INodeProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly constants: ITensorProto[] = [];
  private readonly weights: Weight[] = [];
  private usesMsDomain = false;

  /** `scope`: a subgraph shares its parent's names, which it may read but must not redefine. */
  constructor(
    private readonly graphName: string,
    private readonly scope = { names: new Set<string>(), counter: 0 },
  ) {}

  private get names(): Set<string> {
    return this.scope.names;
  }

  fresh(hint: string): string {
    let name = hint;
    while (this.names.has(name)) name = `${hint}_${++this.scope.counter}`;
    this.names.add(name);
    return name;
  }

  /**
   * A subgraph (a branch of If) built by `build`, which may read this graph's values by name and
   * returns its outputs. It holds nodes and constants only, no parameters.
   */
  subgraph(name: string, build: (branch: GraphBuilder) => { name: string; elemType: number; dims: readonly Dim[] }[]): { graph: IGraphProto } {
    const branch = new GraphBuilder(name, this.scope);
    const outputs = build(branch);
    if (branch.weights.length > 0) throw new Error('a subgraph cannot hold parameters');
    if (branch.usesMsDomain) this.usesMsDomain = true;
    return { graph: { name, node: branch.nodes, initializer: branch.constants, output: outputs.map((o) => valueInfo(o.name, o.elemType, o.dims)) } };
  }

  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.names.add(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: number, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Adds a node; outputs are named from `out` (a hint or exact names); '' leaves one unused. */
  node(
    op: string,
    inputs: readonly string[],
    out: string | readonly string[] = op,
    attrs: Record<string, Attr> = {},
    domain = '',
  ): string[] {
    const outputs = typeof out === 'string' ? [this.fresh(out)] : out.map((o) => (o === '' ? '' : this.fresh(o)));
    if (domain === MS_DOMAIN) this.usesMsDomain = true;
    this.nodes.push({
      opType: op,
      domain,
      name: this.fresh(`${op}_node`),
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Single-output shorthand. */
  op(op: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, hint = op, domain = ''): string {
    return this.node(op, inputs, hint, attrs, domain)[0]!;
  }

  int64s(values: readonly number[], hint = 'const_i64', scalar = false): string {
    const name = this.fresh(hint);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.constants.push({ name, dataType: ElemType.INT64, dims: scalar ? [] : [values.length], rawData: bytesOf(data) });
    return name;
  }

  float(value: number, hint = 'const_f32'): string {
    const name = this.fresh(hint);
    this.constants.push({ name, dataType: ElemType.FLOAT, dims: [], rawData: bytesOf(Float32Array.of(value)) });
    return name;
  }

  /**
   * A float32 constant that is not a model parameter (a lookup table, say): always stored in
   * float32, whatever the weights' dtype (cos/sin tables keep their precision).
   */
  floats(values: Float32Array, dims: number[], hint = 'const_f32'): string {
    const name = this.fresh(hint);
    this.constants.push({ name, dataType: ElemType.FLOAT, dims, rawData: bytesOf(values) });
    return name;
  }

  /** A model parameter; loaded only when the model is serialized. */
  weight(name: string, dims: number[], load: () => Float32Array): string {
    this.names.add(name);
    this.weights.push({ name, dims, load });
    return name;
  }

  weightBytes(dtype: WeightDtype): number {
    const per = dtype === 'fp16' ? 2 : 4;
    return this.weights.reduce((a, w) => a + w.dims.reduce((x, y) => x * y, 1) * per, 0);
  }

  /** Encodes the model; external weights are written to `externalPath` along the way. */
  serialize(opts: SerializeOptions): Uint8Array {
    let mode = opts.weights;
    if (mode === 'auto') mode = this.weightBytes(opts.dtype) > EMBED_LIMIT ? 'external' : 'embed';
    const initializers: ITensorProto[] = [...this.constants];
    const inputs = [...this.inputs];
    const castNodes: INodeProto[] = [];
    const fp16 = opts.dtype === 'fp16' && mode !== 'inputs';
    let fd: number | undefined;
    let offset = 0;
    if (mode === 'external') {
      if (!opts.externalPath) throw new Error('external weights need externalPath');
      fd = openSync(opts.externalPath, 'w');
    }
    try {
      this.weights.forEach((w, index) => {
        opts.onWeight?.(w.name, index, this.weights.length);
        // fp16 storage halves the file; a Cast right after the initializer keeps every op in
        // fp32, which ONNX Runtime's CPU kernels all support. ORT folds the Cast at load time.
        const stored = fp16 ? `${w.name}.fp16` : w.name;
        if (fp16) {
          castNodes.push({ opType: 'Cast', name: `${w.name}.cast`, input: [stored], output: [w.name], attribute: [attribute('to', ElemType.FLOAT)] });
        }
        const dataType = fp16 ? ElemType.FLOAT16 : ElemType.FLOAT;
        if (mode === 'inputs') {
          inputs.push(valueInfo(w.name, ElemType.FLOAT, w.dims));
          return;
        }
        const f32 = w.load();
        const bytes = bytesOf(fp16 ? toHalf(f32) : f32);
        if (fd === undefined) {
          initializers.push({ name: stored, dataType, dims: w.dims, rawData: bytes });
          return;
        }
        const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
        if (pad) writeSync(fd, new Uint8Array(pad));
        offset += pad;
        writeSync(fd, bytes);
        initializers.push({
          name: stored,
          dataType,
          dims: w.dims,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: basename(opts.externalPath!) },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(bytes.length) },
          ],
        });
        offset += bytes.length;
      });
      opts.onWeight?.('', this.weights.length, this.weights.length);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const opsetImport = [{ domain: '', version: OPSET }];
    if (this.usesMsDomain) opsetImport.push({ domain: MS_DOMAIN, version: 1 });
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'gptql',
      opsetImport,
      graph: {
        name: this.graphName,
        node: [...castNodes, ...this.nodes],
        input: inputs,
        output: this.outputs,
        initializer: initializers,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
