/**
 * Starts the engine the configuration asks for: MODEL_PATH, else a random-weights MODEL_SIZE
 * preset (built once under DATA_DIR/models), else the shipped default model.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { DEFAULT_MODEL_DIR, preset, randomWeights, writeModelFolder } from '../../model/index.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import { InferenceEngine } from './engine.ts';

export function modelPathFor(config: Pick<Config, 'model' | 'dataDir'>, logger?: Logger): string {
  if (config.model.path) return config.model.path;
  if (!config.model.size) return DEFAULT_MODEL_DIR;
  const dir = path.join(config.dataDir, 'models', `random-${config.model.size}`);
  if (!fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) {
    logger?.info({ size: config.model.size, dir }, 'building a random-weights model');
    writeModelFolder(dir, randomWeights(preset(config.model.size), { seed: 0 }), { flavour: 'optimized', dtype: 'fp32' });
  }
  return dir;
}

export async function startEngine(config: Config, registry: Registry, logger?: Logger): Promise<InferenceEngine> {
  const modelPath = modelPathFor(config, logger);
  const engine = await InferenceEngine.start({
    modelPath,
    dtype: config.model.dtype,
    device: config.model.device,
    intraOpThreads: config.inference.threads,
    spinWait: config.inference.spinWait,
    maxBatchSize: config.inference.maxBatchSize,
    maxQueuedRequests: config.inference.maxQueuedRequests,
    registry,
  });
  logger?.info({ model: engine.model.name, modelPath, device: config.model.device }, 'model loaded');
  return engine;
}
