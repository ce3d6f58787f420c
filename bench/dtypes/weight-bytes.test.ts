import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { buildGptGraph } from '../../model/onnx/gpt.ts';
import { parameterCount, preset } from '../../model/presets.ts';
import { randomWeights } from '../../model/weights.ts';
import { decodeWeightBytes } from './weight-bytes.ts';

const c = preset('tiny');
const graph = (dtype: 'fp32' | 'fp16') =>
  onnxProto.onnx.ModelProto.decode(buildGptGraph(randomWeights(c, { seed: 1 }), 'optimized').serialize({ dtype, weights: 'embed' }));

describe('decodeWeightBytes', () => {
  // Every parameter but the position table (only gathered) is read per token; the token table
  // is read whole as the tied LM head. Graph constants (shapes, indices, 0 and 1) add under a kilobyte.
  const expected = 4 * (parameterCount(c) - c.context * c.width);

  it('float32 weights: every parameter but the position embeddings, 4 bytes each', () => {
    const b = decodeWeightBytes(graph('fp32'));
    expect(b.perToken).toBeGreaterThanOrEqual(expected);
    expect(b.perToken - expected).toBeLessThan(1024);
    expect(b.gathered).toBe(4 * c.context * c.width);
  });

  it('float16-stored weights cast at load count as the float32 they become', () => {
    const b = decodeWeightBytes(graph('fp16'));
    expect(b.perToken).toBeGreaterThanOrEqual(expected);
    expect(b.perToken - expected).toBeLessThan(1024);
    expect(b.gathered).toBe(2 * c.context * c.width);
  });
});
