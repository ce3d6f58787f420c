/**
 * Starts the roles one process runs: `api` (GraphQL over HTTP and WebSocket), `worker` (the
 * model, consuming generation jobs; with a small HTTP server for probes and metrics), or both.
 */
import type { Config } from '../config.ts';
import { startWorkerRole } from '../generation/worker-role.ts';
import type { Logger } from '../observability/logger.ts';
import { createMetrics } from '../observability/metrics.ts';
import type { Services } from '../services.ts';
import { buildApp } from './app.ts';
import { closeServices, createServices } from './create-services.ts';
import { startWorkerHttp } from './worker-http.ts';

export interface RunningProcess {
  services: Services;
  url: string;
  stop(): Promise<void>;
}

export async function startProcess(config: Config, logger: Logger): Promise<RunningProcess> {
  if (config.role === 'worker') {
    const services = await createServices(config, logger, createMetrics().registry);
    const worker = await startWorkerRole(config, services, logger);
    const http = await startWorkerHttp(services, config.host, config.port);
    const address = http.server.address();
    const url = `http://${config.host}:${typeof address === 'object' && address ? address.port : config.port}`;
    logger.info({ url, role: 'worker' }, 'worker probes listening');
    return {
      services,
      url,
      async stop() {
        await worker.stop();
        await http.stop();
        await closeServices(services);
      },
    };
  }
  const app = await buildApp({ config, logger });
  const worker = config.role === 'all' ? await startWorkerRole(config, app.services, logger) : undefined;
  const url = await app.start();
  return {
    services: app.services,
    url,
    async stop() {
      await worker?.stop();
      await app.stop();
    },
  };
}
