/** A SessionIO for unit tests of the cache's bookkeeping: one slot, 2 KV heads of 3 dimensions, float32. */
import type { SessionIO } from '../../src/inference/session-io.ts';

export const STUB_SESSION_IO: SessionIO = {
  hasPositionIds: true,
  hasUseCacheBranch: false,
  logits: 'logits',
  cache: [{ past: 'past_key_values.0.key', present: 'present.0.key' }],
  kvHeads: 2,
  headDim: 3,
  kvType: 'float32',
};
