/**
 * Starts the roles one process runs, on one infrastructure: `api` (GraphQL over HTTP and
 * WebSocket), `worker` (the model, consuming generation jobs; with a small HTTP server for
 * probes and metrics), or `all` (both).
 */
import { createApi } from '../composition/api.ts';
import { createInfrastructure, type Infrastructure } from '../composition/infrastructure.ts';
import { createWorker, type RunningWorker } from '../composition/worker.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../observability/logger.ts';
import type { App } from './app.ts';
import { startWorkerHttp } from './worker-http.ts';
import { startTracing } from '../observability/tracing.ts';

export interface RunningProcess {
  infra: Infrastructure;
  /** The API, unless this is a worker-only process. */
  api?: App;
  /** The worker, unless this is an API-only process. */
  worker?: RunningWorker;
  url: string;
  /** Stops taking work, lets what is in progress finish, then closes every connection. */
  stop(): Promise<void>;
}

export async function startProcess(config: Config, logger: Logger): Promise<RunningProcess> {
  // Before anything else starts, so that every client made after it is traced.
  const tracing = startTracing(config.tracing.endpoint, config.tracing.serviceName);
  const infra = await createInfrastructure(config, logger);
  const api = config.role === 'worker' ? undefined : await createApi(infra);
  const worker = config.role === 'api' ? undefined : await createWorker(infra);
  // A worker-only process still answers probes and scrapes.
  const probes = api ? undefined : await startWorkerHttp(infra.registry, infra.readiness, config.host, config.port);
  const url = api ? await api.start() : probes!.url;
  if (probes) logger.info({ url, role: config.role }, 'worker probes listening');
  return {
    infra,
    api,
    worker,
    url,
    async stop() {
      await worker?.stop();
      await api?.stop();
      await probes?.stop();
      await infra.close();
      await tracing.shutdown();
    },
  };
}
