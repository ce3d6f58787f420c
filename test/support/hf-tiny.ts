/**
 * The Hugging Face fixture folders (test/fixtures/hf-tiny, see its README) and their reference
 * outputs, typed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChatMessage } from '../../src/inference/prompt.ts';

export const HF_TINY_DIR = path.resolve(import.meta.dirname, '../fixtures/hf-tiny');
export const HF_TINY_MODELS = ['llama-gqa', 'qwen2-bias', 'gpt2'] as const;
export type HfTinyModel = (typeof HF_TINY_MODELS)[number];

export interface Reference {
  prompt: string;
  prompt_ids: number[];
  logits: number[][];
  greedy_ids: number[];
  greedy_text: string;
  chat_messages: ChatMessage[];
  chat_prompt_ids: number[];
  chat_greedy_ids: number[];
}

export interface VariantReference {
  file: string;
  prompt_logits: number[][];
  greedy_ids: number[];
}

export const hfTinyDir = (model: HfTinyModel) => path.join(HF_TINY_DIR, model);

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

export function reference(model: HfTinyModel): Reference {
  return readJson<Reference>(path.join(hfTinyDir(model), 'reference.json'));
}

/** The variants (fp16, int8, q4) ONNX Runtime's own tools made, with their references. */
export function variantReferences(model: HfTinyModel): Record<string, VariantReference> {
  return readJson<{ variants: Record<string, VariantReference> }>(path.join(hfTinyDir(model), 'reference-variants.json')).variants;
}

/** Largest absolute difference between two matrices of logits of the same shape. */
export function maxAbsDiff(actual: ArrayLike<number>[], expected: number[][]): number {
  if (actual.length !== expected.length) throw new Error(`${actual.length} rows of logits, expected ${expected.length}`);
  let max = 0;
  expected.forEach((row, r) => {
    const got = actual[r]!;
    if (got.length !== row.length) throw new Error(`row ${r}: ${got.length} logits, expected ${row.length}`);
    for (let i = 0; i < row.length; i++) max = Math.max(max, Math.abs(got[i]! - row[i]!));
  });
  return max;
}
