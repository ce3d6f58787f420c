import { describe, expect, it } from 'vitest';
import { describeSession } from './session-io.ts';

/** The metadata ONNX Runtime reports for a decoder, as exporters name things. */
function decoder(extraInputs: string[] = []) {
  const past = [0, 1].flatMap((layer) => ['key', 'value'].map((kind) => `past_key_values.${layer}.${kind}`));
  const inputNames = ['input_ids', 'attention_mask', 'position_ids', ...past, ...extraInputs];
  return {
    inputNames,
    outputNames: ['logits', ...past.map((name) => name.replace('past_key_values', 'present'))],
    inputMetadata: inputNames.map((name) =>
      name.startsWith('past_key_values')
        ? { name, isTensor: true as const, type: 'float16' as const, shape: ['batch_size', 2, 'past_sequence_length', 16] }
        : { name, isTensor: true as const, type: 'int64' as const, shape: ['batch_size', 'sequence_length'] },
    ),
  };
}

describe('decoder session inputs and outputs', () => {
  it('reads the KV cache layout and element type from the metadata', () => {
    const io = describeSession(decoder());
    expect(io).toMatchObject({ hasPositionIds: true, hasUseCacheBranch: false, kvHeads: 2, headDim: 16, kvType: 'float16' });
    expect(io.cache.map((slot) => slot.past)).toEqual(['past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
  });

  it("feeds Optimum's use_cache_branch", () => {
    expect(describeSession(decoder(['use_cache_branch'])).hasUseCacheBranch).toBe(true);
  });

  it('refuses at load a model with inputs it would not feed, naming them', () => {
    expect(() => describeSession(decoder(['num_logits_to_keep']))).toThrow(/inputs this engine does not feed: num_logits_to_keep/);
  });
});
