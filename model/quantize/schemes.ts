/**
 * The quantized forms a weight matmul can take, each in ONNX Runtime contrib operators its CPU
 * provider runs with dedicated kernels.
 */
import onnxProto from 'onnx-proto';
import { quantizeBlockwise, type Bits } from './blockwise.ts';
import { DataType } from './onnx-file.ts';
import { makeNode, makeTensor, MS_DOMAIN, type NameSource, type Scheme, type WeightMatMul } from './rewrite.ts';

type INodeProto = onnxProto.onnx.INodeProto;

/** ORT's "input int8, accumulator int32" level: activations quantized per block at run time. */
export const ACCURACY_INT8 = 4;

/** Gemm's C when the operator cannot take it as its bias input: an Add after the product. */
function withBias(m: WeightMatMul, names: NameSource, product: (output: string, bias: string[]) => INodeProto[]): INodeProto[] {
  if (!m.bias) return product(m.output, []);
  if (m.bias.fused) return product(m.output, [m.bias.name]);
  const inner = names.fresh(`${m.output}_product`);
  return [...product(inner, []), makeNode('Add', names.fresh(`${m.node.name || m.weightName}_bias`), [inner, m.bias.name], [m.output])];
}

/**
 * `com.microsoft.MatMulNBits` (layout in blockwise.ts), symmetric so without zero points, named
 * as ONNX Runtime's own tool names them (`<weight>_Q4`, `<weight>_scales`, node `<node>_Q4`).
 */
export function matMulNBits(bits: Bits, blockSize: number, accuracyLevel = ACCURACY_INT8): Scheme {
  const tag = `Q${bits}`;
  return {
    weights(m, names) {
      const q = quantizeBlockwise(m.rows(), m.N, m.K, bits, blockSize);
      return [
        makeTensor(names.fresh(`${m.weightName}_${tag}`), DataType.UINT8, [m.N, q.nBlocks, q.blobSize], q.data),
        makeTensor(names.fresh(`${m.weightName}_scales`), DataType.FLOAT, [m.N, q.nBlocks], q.scales),
      ];
    },
    nodes(m, [data, scales], names) {
      return withBias(m, names, (output, bias) => [
        makeNode(
          'MatMulNBits',
          names.fresh(`${m.node.name || m.weightName}_${tag}`),
          // Inputs 3 and 4 (zero_points, g_idx) stay empty; the bias is input 5.
          [m.input, data!.name!, scales!.name!, ...(bias.length ? ['', '', ...bias] : [])],
          [output],
          { K: m.K, N: m.N, bits, block_size: blockSize, accuracy_level: accuracyLevel },
          MS_DOMAIN,
        ),
      ]);
    },
  };
}
