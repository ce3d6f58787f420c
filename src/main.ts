/**
 * Entry point: reads the configuration (`--role api|worker|all` overrides ROLE), starts the
 * roles, and shuts down cleanly on SIGINT/SIGTERM: in-flight generations are finished or left
 * on the queue for another worker.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './observability/logger.ts';
import { startProcess } from './server/process.ts';

async function main() {
  const { values } = parseArgs({ options: { role: { type: 'string' } }, allowPositionals: false });
  let config;
  try {
    config = loadConfig(values.role ? { ...process.env, ROLE: values.role } : process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const running = await startProcess(config, logger);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await running.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
