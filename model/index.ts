/** What the rest of gptql uses from model/: presets, weight sources, the ONNX builder and a session driver. */
export { DEFAULT_VOCAB, GPT2_VOCAB, PRESETS, headDim, isPresetName, parameterCount, preset, tensorShapes } from './presets.ts';
export type { GptConfig, PresetName } from './presets.ts';
export { cached, randomWeights, seededRandom } from './weights.ts';
export type { RandomInit, WeightSource } from './weights.ts';
export { safetensorsWeights } from './checkpoint.ts';
export { buildGptGraph, FLAVOURS, io } from './onnx/gpt.ts';
export type { Flavour } from './onnx/gpt.ts';
export type { WeightDtype } from './onnx/graph.ts';
export { DEFAULT_TOKENIZER, writeModelFolder } from './folder.ts';
export type { FolderOptions, ModelFolder } from './folder.ts';
export { GptSession, argmax, readFolderConfig, temperatureSampler } from './session.ts';
export type { KvState } from './session.ts';
export { DEFAULT_MODEL_DIR } from './default-dir.ts';
