import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GptConfig } from './presets.ts';
import { findVariant, type ModelDtype } from '../src/inference/model-variants.ts';
import { io } from './onnx/gpt.ts';
import { describeSession, type SessionIO } from '../src/inference/session-io.ts';
import { KvSlots } from '../src/inference/kv-slots.ts';

/** The architecture numbers of a model folder, read back from its config.json. */
export function readFolderConfig(dir: string): GptConfig {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  return { layers: c.n_layer!, heads: c.n_head!, width: c.n_embd!, context: c.n_positions!, vocab: c.vocab_size! };
}

export interface KvState {
  tensors: Record<string, ort.Tensor>;
  length: number;
  /**
   * Buffers for the whole context that steps write their new positions into (kv-slots.ts):
   * the step that continues this state writes past its length, so continue a state once.
   */
  slots?: KvSlots;
}

/**
 * One ONNX GPT session driven a sequence at a time (batch 1) with its KV cache. This is the
 * small driver that tests, the benchmark and the model card use; the server's batched
 * scheduler lives in src/inference. Like the scheduler, it keeps the cache in place when the
 * graph returns new_key_values.* (`emptyState()` then holds buffers for the whole context).
 */
export class GptSession {
  private readonly io: SessionIO;

  private constructor(
    readonly session: ort.InferenceSession,
    readonly config: GptConfig,
  ) {
    this.io = describeSession(session);
  }

  /** The folder's onnx/model.onnx, or with `dtype` the variant the engine would load for it (model_q4.onnx…). */
  static async fromFolder(dir: string, options: ort.InferenceSession.SessionOptions = {}, dtype?: ModelDtype): Promise<GptSession> {
    const file = dtype ? findVariant(dir, dtype) : join(dir, 'onnx', 'model.onnx');
    const session = await ort.InferenceSession.create(file, options);
    return new GptSession(session, readFolderConfig(dir));
  }

  /** A session made elsewhere (with the engine's options, say) on `dir`'s model. */
  static fromSession(session: ort.InferenceSession, dir: string): GptSession {
    return new GptSession(session, readFolderConfig(dir));
  }

  static async fromBytes(bytes: Uint8Array, config: GptConfig, options: ort.InferenceSession.SessionOptions = {}): Promise<GptSession> {
    return new GptSession(await ort.InferenceSession.create(bytes, options), config);
  }

  /** Whether this graph's cache is kept in place (it returns new_key_values.*). */
  get inPlace(): boolean {
    return this.io.newCache !== undefined;
  }

  /** An empty cache to decode on from: in-place buffers for the whole context where the graph allows. */
  emptyState(): KvState {
    if (!this.inPlace) return this.emptyCopiedState();
    const slots = new KvSlots(this.io, 1, this.config.context);
    return { tensors: this.slotViews(slots), length: 0, slots };
  }

  private slotViews(slots: KvSlots): Record<string, ort.Tensor> {
    return Object.fromEntries(slots.views(0, 1).map((t, i) => [this.io.cache[i]!.past, t]));
  }

  /** An empty cache whose steps return new, longer present tensors: nothing to allocate. */
  private emptyCopiedState(): KvState {
    const tensors: Record<string, ort.Tensor> = {};
    for (const slot of this.io.cache) tensors[slot.past] = new ort.Tensor('float32', new Float32Array(0), [1, this.io.kvHeads, 0, this.io.headDim]);
    return { tensors, length: 0 };
  }

  /**
   * Runs `ids` after the cached state; returns logits [ids.length × vocab] and the new state.
   * Without a state the prompt is read from scratch into a copied cache; pass `emptyState()`
   * to decode on from it in place.
   */
  async step(ids: readonly number[], state: KvState = this.emptyCopiedState()): Promise<{ logits: Float32Array; state: KvState }> {
    const n = ids.length;
    const total = state.length + n;
    const feeds: Record<string, ort.Tensor> = {
      [io.inputIds]: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
      [io.positionIds]: new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(state.length + i)), [1, n]),
    };
    if (state.slots) {
      // Growing replaces the buffers: feed views of the current ones.
      state.slots.ensureCapacity(total, [state.length]);
      const views = this.slotViews(state.slots);
      const mask = state.slots.mask([state.length], n);
      const out = await this.session.run({ ...feeds, ...views, [io.attentionMask]: mask }, [io.logits, ...this.io.newCache!]);
      state.slots.write(0, state.length, this.io.newCache!.map((name) => out[name]!), 0);
      return { logits: out[io.logits]!.data as Float32Array, state: { tensors: views, length: total, slots: state.slots } };
    }
    const mask = new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]);
    const out = await this.session.run({ ...feeds, ...state.tensors, [io.attentionMask]: mask });
    const tensors: Record<string, ort.Tensor> = {};
    for (const slot of this.io.cache) tensors[slot.past] = out[slot.present]!;
    return { logits: out[io.logits]!.data as Float32Array, state: { tensors, length: total } };
  }

  /**
   * Continues `prompt` by `count` tokens, choosing each with `pick` from the last logits row.
   * Learned positions end at the context length, so a full window is restarted on its last
   * half (one re-prefill) rather than stopping.
   */
  async generate(prompt: readonly number[], count: number, pick: (logits: Float32Array) => number): Promise<number[]> {
    const { vocab, context } = this.config;
    const all = prompt.slice(-context);
    let { logits, state } = await this.step(all, this.emptyState());
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const next = pick(logits.subarray(logits.length - vocab));
      out.push(next);
      all.push(next);
      if (i + 1 === count) break;
      ({ logits, state } =
        state.length < context ? await this.step([next], state) : await this.step(all.slice(-Math.floor(context / 2)), this.emptyState()));
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Temperature sampling driven by a caller-supplied uniform source, so runs can be reproduced. */
export function temperatureSampler(temperature: number, random: () => number): (row: Float32Array) => number {
  return (row) => {
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    const p = Float64Array.from(row, (x) => Math.exp((x - max) / temperature));
    let r = random() * p.reduce((a, b) => a + b, 0);
    for (let i = 0; i < p.length; i++) {
      r -= p[i]!;
      if (r <= 0) return i;
    }
    return p.length - 1;
  };
}
