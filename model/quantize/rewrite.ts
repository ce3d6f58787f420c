/**
 * Graph surgery for weight-only quantization: finds every MatMul (and Gemm) whose weight is a
 * constant float matrix, hands the weight to a scheme that emits the replacement nodes and
 * initializers, and drops what only the old weights used. Everything else in the graph stays
 * as it was, in order.
 */
import onnxProto from 'onnx-proto';
import { DataType, dimsOf, floatValues, type ITensorProto, type ModelProto } from './onnx-file.ts';
import { transpose } from './blockwise.ts';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

export const MS_DOMAIN = 'com.microsoft';

/** One weight matmul found in the graph, in the orientation every scheme wants. */
export interface WeightMatMul {
  /** The node being replaced (MatMul or Gemm). */
  node: INodeProto;
  /** The activation input. */
  input: string;
  output: string;
  /** Output features and reduction length: Y[M, N] = A[M, K] × W[K, N]. */
  N: number;
  K: number;
  /** Weight name in the source file, for naming what replaces it. */
  weightName: string;
  /** The weight as [N, K] float32, row n = output column n (read from the file on each call). */
  rows: () => Float32Array;
  /**
   * What the matmul adds (Gemm's C), if anything: `fused` when it is a float [N] initializer,
   * which the quantized operators take as their bias input; otherwise it needs its own Add.
   */
  bias?: { name: string; fused: boolean };
}

/** How one kind of quantized matmul is stored and wired. */
export interface Scheme {
  /** The quantized initializers of one weight (computed once even when several matmuls share it). */
  weights(m: WeightMatMul, names: NameSource): ITensorProto[];
  /** The nodes that compute `m.output` from `m.input` and those initializers. */
  nodes(m: WeightMatMul, weights: readonly ITensorProto[], names: NameSource): INodeProto[];
}

export interface RewriteOptions {
  /** Which operators to quantize; ONNX Runtime's own q4 tool does only MatMul. */
  ops: ReadonlySet<'MatMul' | 'Gemm'>;
  onWeight?: (done: number, total: number, name: string) => void;
}

export interface RewriteSummary {
  quantized: number;
  skipped: { node: string; reason: string }[];
}

/** Fresh tensor and node names that collide with nothing in the graph. */
export class NameSource {
  private readonly used = new Set<string>();

  constructor(graph: IGraphProto) {
    visitGraphs(graph, (g) => {
      for (const n of g.node ?? []) {
        if (n.name) this.used.add(n.name);
        for (const o of n.output ?? []) this.used.add(o);
      }
      for (const t of g.initializer ?? []) if (t.name) this.used.add(t.name);
      for (const v of g.input ?? []) if (v.name) this.used.add(v.name);
    });
  }

  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }
}

function visitGraphs(graph: IGraphProto, visit: (g: IGraphProto) => void): void {
  visit(graph);
  for (const n of graph.node ?? []) {
    for (const a of n.attribute ?? []) {
      if (a.g) visitGraphs(a.g, visit);
      for (const g of a.graphs ?? []) visitGraphs(g, visit);
    }
  }
}

const attr = (n: INodeProto, name: string): IAttributeProto | undefined => n.attribute?.find((a) => a.name === name);
const intAttr = (n: INodeProto, name: string, fallback: number) => {
  const a = attr(n, name);
  return a?.i !== undefined && a.i !== null ? Number(a.i) : fallback;
};
const floatAttr = (n: INodeProto, name: string, fallback: number) => attr(n, name)?.f ?? fallback;
const isFloat = (t: ITensorProto) => t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16;

/** A constant traced back to its stored tensor, through the nodes exporters put in between. */
interface ConstantRef {
  tensor: ITensorProto;
  /** The stored tensor is the transpose of the value the consumer sees. */
  transposed: boolean;
  /** Nodes between the stored tensor and the consumer (Transpose, Cast, Identity, Constant). */
  via: INodeProto[];
}

class GraphIndex {
  readonly initializers = new Map<string, ITensorProto>();
  readonly producers = new Map<string, INodeProto>();

  constructor(graph: IGraphProto) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name!, t);
    for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) this.producers.set(o, n);
  }

  /**
   * Our GPT graph feeds the tied LM head as Transpose(wte); torch.onnx stores most weights
   * already transposed, and fp16 files go through Cast. Follow those, nothing else.
   */
  constant(name: string): ConstantRef | undefined {
    const init = this.initializers.get(name);
    if (init) return { tensor: init, transposed: false, via: [] };
    const node = this.producers.get(name);
    if (!node || (node.domain ?? '') !== '') return undefined;
    if (node.opType === 'Constant') {
      const value = attr(node, 'value')?.t;
      return value ? { tensor: { ...value, name: value.name || name }, transposed: false, via: [node] } : undefined;
    }
    const inner = ['Transpose', 'Cast', 'Identity'].includes(node.opType ?? '') ? this.constant(node.input![0]!) : undefined;
    if (!inner) return undefined;
    if (node.opType === 'Transpose') {
      const perm = attr(node, 'perm')?.ints?.map(Number);
      if (dimsOf(inner.tensor).length !== 2 || (perm && !(perm[0] === 1 && perm[1] === 0))) return undefined;
      return { ...inner, transposed: !inner.transposed, via: [...inner.via, node] };
    }
    if (node.opType === 'Cast' && intAttr(node, 'to', 0) !== DataType.FLOAT) return undefined;
    return { ...inner, via: [...inner.via, node] };
  }
}

/** The weight matmuls of a graph, or why a candidate was left alone. */
function findWeightMatMuls(graph: IGraphProto, index: GraphIndex, sourceDir: string, opts: RewriteOptions) {
  const found: { m: WeightMatMul; via: INodeProto[]; key: string }[] = [];
  const skipped: RewriteSummary['skipped'] = [];
  for (const node of graph.node ?? []) {
    const op = node.opType as 'MatMul' | 'Gemm';
    if ((node.domain ?? '') !== '' || !opts.ops.has(op)) continue;
    const [a, b, c] = node.input ?? [];
    const ref = b ? index.constant(b) : undefined;
    if (!a || !ref || !isFloat(ref.tensor)) continue;
    const dims = dimsOf(ref.tensor);
    if (dims.length !== 2) {
      skipped.push({ node: node.name ?? '', reason: `weight of rank ${dims.length}` });
      continue;
    }
    let storedAsRows = ref.transposed; // stored as [N, K]?
    let bias: WeightMatMul['bias'];
    if (op === 'Gemm') {
      if (intAttr(node, 'transA', 0) !== 0 || floatAttr(node, 'alpha', 1) !== 1 || (c && floatAttr(node, 'beta', 1) !== 1)) {
        skipped.push({ node: node.name ?? '', reason: 'Gemm with transA, alpha or beta' });
        continue;
      }
      if (intAttr(node, 'transB', 0) === 1) storedAsRows = !storedAsRows;
    }
    const [K, N] = storedAsRows ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
    if (op === 'Gemm' && c) {
      // torch.onnx keeps some biases as Constant nodes rather than initializers; either will do.
      const constant = index.constant(c)?.tensor;
      const fused = constant !== undefined && constant.dataType === DataType.FLOAT && dimsOf(constant).join() === String(N);
      bias = { name: c, fused };
    }
    const key = `${ref.tensor.name}|${storedAsRows}`;
    const tensor = ref.tensor;
    // Loaded only when quantized, so that one float weight at a time is in memory.
    const rows = () => {
      const values = floatValues(tensor, sourceDir);
      return storedAsRows ? values : transpose(values, K, N);
    };
    found.push({ m: { node, input: a, output: node.output![0]!, N, K, weightName: tensor.name!, rows, bias }, via: ref.via, key });
  }
  return { found, skipped };
}

/** Rewrites the model's main graph in place. */
export function rewriteWeightMatMuls(model: ModelProto, sourceDir: string, scheme: Scheme, opts: RewriteOptions): RewriteSummary {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const names = new NameSource(graph);
  const { found, skipped } = findWeightMatMuls(graph, index, sourceDir, opts);
  const replacements = new Map<INodeProto, INodeProto[]>();
  const quantized = new Map<string, ITensorProto[]>();
  const newInitializers: ITensorProto[] = [];
  found.forEach(({ m, key }, i) => {
    opts.onWeight?.(i, found.length, m.weightName);
    let weights = quantized.get(key);
    if (!weights) {
      weights = scheme.weights(m, names);
      quantized.set(key, weights);
      newInitializers.push(...weights);
    }
    replacements.set(m.node, scheme.nodes(m, weights, names));
  });
  opts.onWeight?.(found.length, found.length, '');
  graph.node = (graph.node ?? []).flatMap((n) => replacements.get(n) ?? [n]);
  graph.initializer = [...(graph.initializer ?? []), ...newInitializers];
  pruneDead(graph, new Set(found.flatMap((f) => f.via)), new Set(found.map((f) => f.m.weightName)));
  if (replacements.size > 0) ensureOpset(model, MS_DOMAIN, 1);
  return { quantized: found.length, skipped };
}

/** Names read by any node (subgraphs included) or returned by the graph. */
function usedNames(graph: IGraphProto): Set<string> {
  const used = new Set<string>((graph.output ?? []).map((o) => o.name!));
  visitGraphs(graph, (g) => {
    for (const n of g.node ?? []) for (const i of n.input ?? []) if (i) used.add(i);
  });
  return used;
}

/** Removes the weight-feeding nodes and the float weights that nothing reads any more. */
function pruneDead(graph: IGraphProto, candidates: Set<INodeProto>, weights: Set<string>): void {
  for (;;) {
    const used = usedNames(graph);
    const dead = (graph.node ?? []).filter((n) => candidates.has(n) && !(n.output ?? []).some((o) => used.has(o)));
    if (dead.length === 0) break;
    const gone = new Set(dead);
    graph.node = graph.node!.filter((n) => !gone.has(n));
  }
  const used = usedNames(graph);
  const removed = new Set([...weights].filter((w) => !used.has(w)));
  graph.initializer = (graph.initializer ?? []).filter((t) => !removed.has(t.name!));
  // Old IR versions list initializers among the inputs too.
  graph.input = (graph.input ?? []).filter((v) => !removed.has(v.name!));
  const produced = new Set((graph.node ?? []).flatMap((n) => n.output ?? []));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => produced.has(v.name!) || used.has(v.name!));
}

export function ensureOpset(model: ModelProto, domain: string, version: number): void {
  const imports = model.opsetImport ?? [];
  if (!imports.some((o) => (o.domain ?? '') === domain)) model.opsetImport = [...imports, onnx.OperatorSetIdProto.create({ domain, version })];
}

/** A node in ONNX's form, with int and float attributes. */
export function makeNode(
  opType: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, number | { f: number }> = {},
  domain = '',
): INodeProto {
  const T = onnx.AttributeProto.AttributeType;
  return onnx.NodeProto.create({
    opType,
    name,
    domain,
    input: inputs,
    output: outputs,
    attribute: Object.entries(attrs).map(([k, v]) =>
      typeof v === 'number' ? onnx.AttributeProto.create({ name: k, type: T.INT, i: v }) : onnx.AttributeProto.create({ name: k, type: T.FLOAT, f: v.f }),
    ),
  });
}

export function makeTensor(name: string, dataType: number, dims: number[], data: ArrayBufferView): ITensorProto {
  return onnx.TensorProto.create({ name, dataType, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
}
