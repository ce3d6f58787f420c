/**
 * What the generation worker needs of an engine: a local InferenceEngine running the model in
 * onnxruntime, or an UpstreamEngine forwarding to an OpenAI-compatible server.
 */
import type { GenerateRequest } from '../inference/engine.ts';
import type { EngineEvent } from '../inference/protocol.ts';
import type { ModelInfo } from './model-directory.ts';

/** What the model directory announces of the model. */
export type EngineModel = ModelInfo;

export interface GenerationEngine {
  readonly model: EngineModel;
  /** The generation's events: tokens, then one done or error event. May throw at once (OVERLOADED, BAD_USER_INPUT). */
  generate(request: GenerateRequest): AsyncIterable<EngineEvent>;
  close(): Promise<void>;
}
