/**
 * The worker role: loads the model, consumes generation jobs, announces the model to API
 * processes. From the infrastructure it takes the queue, the stream store, the response cache,
 * the stores a reply is written to and the model directory; it builds the engine.
 */
import os from 'node:os';
import { GenerationWorker } from '../generation/worker.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import { startEngine } from '../inference/start.ts';
import type { Infrastructure } from './infrastructure.ts';

export interface RunningWorker {
  /** The engine jobs run on (tests watch what it is asked). */
  engine: InferenceEngine;
  stop(): Promise<void>;
}

export async function createWorker(infra: Infrastructure): Promise<RunningWorker> {
  const { config, logger } = infra;
  const engine = await startEngine(config, infra.registry, logger);
  const consumerName = `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const worker = new GenerationWorker({
    engine,
    queue: infra.queue,
    streams: infra.streams,
    cache: infra.cache,
    messages: infra.messages,
    conversations: infra.conversations,
    files: infra.files,
    fileContextMaxChars: config.files.contextMaxChars,
    logger,
    consumerName,
    // Enough jobs in hand to fill the batch and the engine's queue: beyond that, jobs are
    // better left on the shared queue for other workers.
    concurrency: config.inference.maxBatchSize + Math.min(config.inference.maxQueuedRequests, config.inference.maxBatchSize),
    onCacheLookup: (hit) => (hit ? infra.generationMetrics.cacheHits : infra.generationMetrics.cacheMisses).inc(),
  });
  await worker.start();
  const withdraw = await infra.models.announce(consumerName, { name: engine.model.name, contextLength: engine.model.contextLength });
  logger.info({ consumer: consumerName, queue: infra.queue.kind }, 'worker consuming generation jobs');
  return {
    engine,
    async stop() {
      await withdraw();
      await worker.stop();
      await engine.close();
    },
  };
}
