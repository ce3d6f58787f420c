import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parameterCount, preset, PRESETS, type PresetName } from '../presets.ts';
import { randomWeights, type WeightSource } from '../weights.ts';
import { GptSession } from '../session.ts';
import { buildGptGraph, FLAVOURS, io } from './gpt.ts';
import { newCacheNames } from './cached-attention.ts';

/** A source that must never be read: the large presets are checked without their weights. */
function unreadable(name: PresetName): WeightSource {
  return {
    config: preset(name),
    tensor: (t) => {
      throw new Error(`weights of ${name} were read (${t})`);
    },
  };
}

const small: PresetName[] = ['tiny', '10m', 'small'];
const large = (Object.keys(PRESETS) as PresetName[]).filter((p) => !small.includes(p));

describe.each(FLAVOURS)('every preset, %s', (flavour) => {
  it.each(small)('%s builds with random weights and runs a step', async (name) => {
    const c = preset(name);
    const bytes = buildGptGraph(randomWeights(c), flavour).serialize({ dtype: 'fp16', weights: 'embed' });
    const s = await GptSession.fromBytes(bytes, c);
    const { logits, state } = await s.step([1, 2, 3]);
    expect(logits.length).toBe(3 * c.vocab);
    expect(logits.every(Number.isFinite)).toBe(true);
    expect(state.tensors[io.pastValue(c.layers - 1)]!.dims).toEqual([1, c.heads, 3, c.width / c.heads]);
    await s.release();
  });

  it.each(large)('%s is accepted by ONNX Runtime with its weights as typed graph inputs', async (name) => {
    const c = preset(name);
    const graph = buildGptGraph(unreadable(name), flavour);
    const session = await ort.InferenceSession.create(graph.serialize({ dtype: 'fp32', weights: 'inputs' }));
    const weightInputs = session.inputMetadata.filter((m) => m.name.startsWith('transformer.'));
    let total = 0;
    for (const m of weightInputs) {
      if (!m.isTensor) throw new Error(`${m.name} is not a tensor`);
      total += (m.shape as number[]).reduce((a, b) => a * b, 1);
    }
    expect(total).toBe(parameterCount(c));
    const layers = Array.from({ length: c.layers }, (_, i) => i);
    // The optimized graph also returns the positions each run added (cached-attention.ts).
    const added = flavour === 'optimized' ? layers.flatMap((i) => [newCacheNames.key(i), newCacheNames.value(i)]) : [];
    expect(session.outputNames).toEqual([io.logits, ...layers.flatMap((i) => [io.presentKey(i), io.presentValue(i)]), ...added]);
    await session.release();
  });
});
