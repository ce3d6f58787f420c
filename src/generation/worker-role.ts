/**
 * The worker role: loads the model, consumes generation jobs, announces the model to API
 * processes. Runs beside the API in `ROLE=all`, alone in `ROLE=worker`.
 */
import os from 'node:os';
import type { Config } from '../config.ts';
import type { InferenceEngine } from '../inference/engine.ts';
import { startEngine } from '../inference/start.ts';
import type { Logger } from '../observability/logger.ts';
import type { Services } from '../services.ts';
import { GenerationWorker } from './worker.ts';

export interface RunningWorker {
  /** The engine jobs run on (tests watch what it is asked). */
  engine: InferenceEngine;
  stop(): Promise<void>;
}

export async function startWorkerRole(config: Config, services: Services, logger: Logger): Promise<RunningWorker> {
  const engine = await startEngine(config, services.registry, logger);
  const consumerName = `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const { generationStack: stack } = services;
  const worker = new GenerationWorker({
    engine,
    queue: stack.queue,
    streams: stack.streams,
    cache: stack.cache,
    messages: services.messages,
    conversations: services.conversations,
    events: services.events,
    files: services.files,
    fileContextMaxChars: config.files.contextMaxChars,
    logger,
    consumerName,
    // Enough jobs in hand to fill the batch and the engine's queue: beyond that, jobs are
    // better left on the shared queue for other workers.
    concurrency: config.inference.maxBatchSize + Math.min(config.inference.maxQueuedRequests, config.inference.maxBatchSize),
    onCacheLookup: (hit) => (hit ? stack.metrics.cacheHits : stack.metrics.cacheMisses).inc(),
  });
  await worker.start();
  const withdraw = await stack.models.announce(consumerName, { name: engine.model.name, contextLength: engine.model.contextLength });
  logger.info({ consumer: consumerName, queue: stack.queue.kind }, 'worker consuming generation jobs');
  return {
    engine,
    async stop() {
      await withdraw();
      await worker.stop();
      await engine.close();
    },
  };
}
