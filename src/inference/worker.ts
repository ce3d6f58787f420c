/**
 * The inference worker thread: loads the model, runs the scheduler, and talks to the main
 * thread only through messages, because session.run blocks the thread it runs on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { keepFloat16AsUint16 } from './float16-tensors.ts';
import { readModelFolder, textCodec } from './model-folder.ts';
import { createSession, type SessionOptions } from './ort-session.ts';
import { PromptBuilder } from './prompt.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import { Scheduler } from './scheduler.ts';
import { describeSession } from './session-io.ts';
import { KvSlots } from './kv-slots.ts';
import { PrefixCache, type KvCacheDtype } from './prefix-cache.ts';
import type { ModelDtype } from './model-variants.ts';

export interface WorkerConfig extends SessionOptions {
  modelPath: string;
  dtype: ModelDtype;
  maxBatchSize: number;
  /** PREFIX_CACHE_BYTES: the prefix cache's budget (in-place cache only); 0 turns it off. */
  prefixCacheBytes: number;
  kvCacheDtype: KvCacheDtype;
  /** PREFILL_CHUNK_TOKENS: prompt tokens read per step between decode steps (in-place cache only); 0: whole prompts. */
  prefillChunkTokens: number;
}

const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

async function main(config: WorkerConfig) {
  keepFloat16AsUint16();
  const model = readModelFolder(config.modelPath, config.dtype);
  // Parsed before the weights load: a broken template fails the start, not every request.
  const codec = textCodec(model.tokenizer, model.promptSpecials);
  const prompts = new PromptBuilder(model.chatTemplate, model.specialTokens, codec);
  const session = await createSession(model.onnxPath, config);
  const io = describeSession(session);
  const slots = io.newCache ? new KvSlots(io, config.maxBatchSize, model.contextLength) : undefined;
  const prefixCache = slots && config.prefixCacheBytes > 0 ? new PrefixCache(config.prefixCacheBytes, config.kvCacheDtype) : undefined;
  const scheduler = new Scheduler({
    slots,
    prefixCache,
    prefillChunkTokens: config.prefillChunkTokens,
    session,
    io,
    model,
    codec,
    prompts,
    maxBatchSize: config.maxBatchSize,
    output: {
      started: (id, queueSeconds) => send({ type: 'started', id, queueSeconds }),
      events: (events, stats) => send({ type: 'events', events, stats }),
    },
  });

  let looping = false;
  async function loop() {
    if (looping) return;
    looping = true;
    try {
      while (!scheduler.idle) {
        await scheduler.step();
        // Let queued messages (new requests, cancellations) in between steps.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      looping = false;
    }
  }

  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'submit':
        scheduler.submit(message);
        void loop();
        break;
      case 'cancel':
        scheduler.cancel(message.id);
        break;
      case 'shutdown':
        void session.release().finally(() => process.exit(0));
        break;
    }
  });

  send({
    type: 'ready',
    model: {
      name: model.name,
      architecture: model.architecture,
      dtype: model.dtype,
      parameters: model.parameters,
      chatTemplate: model.chatTemplate !== undefined,
      contextLength: model.contextLength,
      vocabSize: model.vocabSize,
      defaults: model.defaults,
      executionProvider: config.device,
      kvCache: slots ? 'in-place' : 'copied',
    },
  });
}

main(workerData as WorkerConfig).catch((error: unknown) => send({ type: 'fatal', message: (error as Error).message }));
