/**
 * Starts the engines the configuration asks for, one per model folder of MODEL_PATH (the
 * shipped default model, or a random-weights MODEL_SIZE preset built once under
 * DATA_DIR/models, when it is unset).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { preset, randomWeights, writeModelFolder } from '../../model/index.ts';
import type { Config, ModelFolderEntry } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { GenerationEngine } from '../generation/engine.ts';
import { UpstreamEngine } from '../upstream/upstream-engine.ts';
import { InferenceEngine } from './engine.ts';

/** The folder to load for `folder`, building the MODEL_SIZE preset first if that is what it is and it is missing. */
export function prepareModelFolder(config: Pick<Config, 'model'>, folder: ModelFolderEntry, logger?: Logger): string {
  const { size } = config.model;
  if (size && !fs.existsSync(path.join(folder.path, 'onnx', 'model.onnx'))) {
    logger?.info({ size, dir: folder.path }, 'building a random-weights model');
    writeModelFolder(folder.path, randomWeights(preset(size), { seed: 0 }), { flavour: 'optimized', dtype: 'fp32' });
  }
  return folder.path;
}

export async function startEngine(config: Config, folder: ModelFolderEntry, registry: Registry, logger?: Logger): Promise<InferenceEngine> {
  const modelPath = prepareModelFolder(config, folder, logger);
  const engine = await InferenceEngine.start({
    modelPath,
    dtype: config.model.dtype,
    name: folder.name,
    device: config.model.device,
    intraOpThreads: config.inference.threads,
    spinWait: config.inference.spinWait,
    maxBatchSize: config.inference.maxBatchSize,
    prefixCacheBytes: config.inference.prefixCacheBytes,
    kvCacheDtype: config.inference.kvCacheDtype,
    prefillChunkTokens: config.inference.prefillChunkTokens,
    maxQueuedRequests: config.inference.maxQueuedRequests,
    registry,
  });
  logger?.info({ model: engine.model.name, modelPath, device: config.model.device }, 'model loaded');
  return engine;
}

/**
 * One engine per model, keyed by name in MODEL_PATH's order (the first is the default model),
 * then UPSTREAM_MODELS'. Each local one has its own worker thread, batch and queue, so a busy
 * model does not hold up another. Started one after another: loading reads the whole folder
 * into memory, and a failure stops the engines already started.
 */
export async function startEngines(config: Config, registry: Registry, logger?: Logger): Promise<Map<string, GenerationEngine>> {
  const engines = new Map<string, GenerationEngine>();
  const upstream = config.model.upstream;
  try {
    for (const folder of config.model.folders) engines.set(folder.name, await startEngine(config, folder, registry, logger));
    for (const { name, upstreamModel } of upstream?.models ?? []) {
      const engine = await UpstreamEngine.start({ baseURL: upstream!.url, apiKey: upstream!.apiKey, name, upstreamModel, timeoutMs: upstream!.timeoutMs, retries: upstream!.retries, registry, logger });
      logger?.info({ model: name, upstream: upstream!.url, upstreamModel }, 'model served by an upstream server');
      engines.set(name, engine);
    }
  } catch (error) {
    await Promise.all([...engines.values()].map((engine) => engine.close()));
    throw error;
  }
  return engines;
}
