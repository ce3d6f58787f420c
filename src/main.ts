/**
 * Entry point: reads the configuration, starts the roles this process runs, and shuts down
 * cleanly on SIGINT/SIGTERM.
 */
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { buildApp } from './server/app.ts';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const stops: (() => Promise<void>)[] = [];

  if (config.role === 'api' || config.role === 'all') {
    const app = await buildApp({ config, logger });
    await app.start();
    stops.push(() => app.stop());
  }
  if (config.role === 'worker') {
    logger.warn('the worker role has no generation jobs to run yet');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    for (const stop of stops.reverse()) await stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
