/**
 * Servers of a test's own, each on a free port, that the test can kill and start again on the
 * same port (an outage and a recovery) without touching the shared services other suites use:
 * a redis-server and a dynalite, each its own process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { ListTablesCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface PrivateServer {
  url: string;
  start(): Promise<void>;
  /** SIGKILL: gone at once, as a failed node is. */
  kill(): Promise<void>;
}

/** A process started by `spawnServer`, started again the same way after each kill. */
function killable(url: string, spawnServer: () => ChildProcess, answers: () => Promise<void>): PrivateServer {
  let child: ChildProcess | undefined;
  return {
    url,
    async start() {
      child = spawnServer();
      for (let attempt = 0; ; attempt++) {
        try {
          return await answers();
        } catch (error) {
          if (attempt > 200 || child.exitCode !== null) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Without `dataDir`, a restart is an empty server, as a replaced ElastiCache node can be. With
 * it, every write is in an append-only file synced before Redis answers (as a failover to a
 * replica that had every acknowledged write), so a restart keeps what Redis acknowledged.
 */
export async function privateRedis(options: { dataDir?: string } = {}): Promise<PrivateServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const persistence = options.dataDir ? ['--dir', options.dataDir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  return killable(
    url,
    () => spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' }),
    async () => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        // Loading the append-only file answers LOADING: not up yet.
        await probe.ping();
      } finally {
        probe.disconnect();
      }
    },
  );
}

/** dynalite in a process of its own, its tables in LevelDB under `dataDir` (kept across restarts). */
export async function privateDynalite(dataDir: string): Promise<PrivateServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const cli = path.join(path.dirname(createRequire(import.meta.url).resolve('dynalite')), 'cli.js');
  const args = [cli, '--host', '127.0.0.1', '--port', String(port), '--path', dataDir, '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'];
  return killable(
    url,
    () => spawn(process.execPath, args, { stdio: 'ignore' }),
    async () => {
      const client = new DynamoDBClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
      try {
        await client.send(new ListTablesCommand({}));
      } finally {
        client.destroy();
      }
    },
  );
}
