import { describe, expect, it } from 'vitest';
import type { HubFile } from './client.ts';
import { PullErrorCode } from './errors.ts';
import { availableDtypes, selectFiles } from './select.ts';

const listing = (...paths: string[]): HubFile[] => paths.map((path) => ({ path, size: 1 }));
const base = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'README.md', 'model.safetensors', '.gitattributes'];

describe('selectFiles', () => {
  it('takes the folder files, the dtype model and its external data, nothing else', () => {
    const files = listing(
      ...base,
      'generation_config.json',
      'special_tokens_map.json',
      'chat_template.jinja',
      'onnx/model.onnx',
      'onnx/model.onnx_data',
      'onnx/model.onnx_data_1',
      'onnx/model_q4.onnx',
      'onnx/model_q4.onnx_data',
      'onnx/model.onnx_data/nested',
    );
    expect(selectFiles('o/m', files, 'fp32').map((f) => f.path)).toEqual([
      'config.json',
      'tokenizer.json',
      'generation_config.json',
      'tokenizer_config.json',
      'special_tokens_map.json',
      'chat_template.jinja',
      'onnx/model.onnx',
      'onnx/model.onnx_data',
      'onnx/model.onnx_data_1',
    ]);
    expect(selectFiles('o/m', files, 'q4').map((f) => f.path).slice(-2)).toEqual(['onnx/model_q4.onnx', 'onnx/model_q4.onnx_data']);
  });

  it("falls back to Optimum's merged decoder", () => {
    const files = listing(...base, 'onnx/decoder_model_merged_q4f16.onnx', 'onnx/decoder_model_merged_q4f16.onnx.data');
    expect(selectFiles('o/m', files, 'q4f16').map((f) => f.path).slice(-2)).toEqual([
      'onnx/decoder_model_merged_q4f16.onnx',
      'onnx/decoder_model_merged_q4f16.onnx.data',
    ]);
  });

  it('names the dtypes the repository has when the asked one is missing', () => {
    const files = listing(...base, 'onnx/model.onnx', 'onnx/model_fp16.onnx');
    expect(availableDtypes(files)).toEqual(['fp32', 'fp16']);
    expect(() => selectFiles('o/m', files, 'q4')).toThrow(
      expect.objectContaining({ code: PullErrorCode.NO_VARIANT, message: expect.stringContaining('o/m has no q4 variant (onnx/model_q4.onnx or onnx/decoder_model_merged_q4.onnx); this repo has: fp32, fp16') }),
    );
  });

  it('says so when the repository has no ONNX model at all, or no tokenizer', () => {
    expect(() => selectFiles('o/m', listing(...base), 'fp32')).toThrow(expect.objectContaining({ code: PullErrorCode.NO_VARIANT, message: expect.stringMatching(/no ONNX model under onnx\//) }));
    expect(() => selectFiles('o/m', listing('config.json', 'onnx/model.onnx'), 'fp32')).toThrow(
      expect.objectContaining({ code: PullErrorCode.MISSING_FILE, message: 'o/m has no tokenizer.json: not a model folder gptql can serve' }),
    );
  });
});
