/**
 * The worker role: loads the models, consumes their generation jobs, announces them to API
 * processes. From the infrastructure it takes the queue, the stream store, the response cache,
 * the stores a reply is written to and the model directory; it builds the engines, one per model.
 */
import os from 'node:os';
import { GenerationWorker } from '../generation/worker.ts';
import type { ModelInfo } from '../generation/model-directory.ts';
import type { GenerationEngine } from '../generation/engine.ts';
import { startEngines } from '../inference/start.ts';
import { UsageLedger } from '../usage/ledger.ts';
import type { Infrastructure } from './infrastructure.ts';

export interface RunningWorker {
  /** The engines jobs run on, by model name in MODEL_PATH's order (tests watch what they are asked). */
  engines: ReadonlyMap<string, GenerationEngine>;
  /** This worker's name as a queue consumer, as the `models` query lists it. */
  consumerName: string;
  stop(): Promise<void>;
}

/** What the directory tells API processes about a model. */
const announced = (model: ModelInfo): ModelInfo => ({
  name: model.name,
  architecture: model.architecture,
  dtype: model.dtype,
  parameters: model.parameters,
  contextLength: model.contextLength,
  chatTemplate: model.chatTemplate,
});

export async function createWorker(infra: Infrastructure): Promise<RunningWorker> {
  const { config, logger } = infra;
  const engines = await startEngines(config, infra.registry, logger);
  const consumerName = `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const worker = new GenerationWorker({
    engines,
    queue: infra.queue,
    streams: infra.streams,
    cache: infra.cache,
    messages: infra.messages,
    conversations: infra.conversations,
    ledger: new UsageLedger({
      usage: infra.usage,
      events: infra.usageEvents,
      onCounted: (entry, { role, kind }) => infra.generationMetrics.usageTokens.inc({ role, kind, model: entry.model }, entry.promptTokens + entry.completionTokens),
    }),
    files: infra.files,
    fileContextMaxChars: config.files.contextMaxChars,
    logger,
    consumerName,
    // Enough jobs in hand to fill each engine's batch and queue: beyond that, jobs are better
    // left on the shared queue for other workers.
    concurrency: config.inference.maxBatchSize + Math.min(config.inference.maxQueuedRequests, config.inference.maxBatchSize),
    maxDeliveries: config.generation.maxDeliveries,
    onGenerationEnded: (model, outcome) => infra.generationMetrics.generations.inc({ model, outcome }),
    onCacheLookup: (hit) => (hit ? infra.generationMetrics.cacheHits : infra.generationMetrics.cacheMisses).inc(),
  });
  const closeEngines = () => Promise.all([...engines.values()].map((engine) => engine.close()));
  let withdraw: () => Promise<void>;
  try {
    await worker.start();
    withdraw = await infra.models.announce(consumerName, [...engines.values()].map((engine) => announced(engine.model)));
  } catch (error) {
    await worker.stop();
    await closeEngines();
    throw error;
  }
  logger.info({ consumer: consumerName, queue: infra.queue.kind, models: [...engines.keys()] }, 'worker consuming generation jobs');
  return {
    engines,
    consumerName,
    async stop() {
      await withdraw();
      await worker.stop(config.worker.drainSeconds * 1000);
      await closeEngines();
    },
  };
}
