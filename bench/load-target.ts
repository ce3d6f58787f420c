/**
 * The server `npm run load` and `npm run soak` drive: one gptql process with both roles on
 * loopback, Redis-backed (the production shape: queue, stream store, pub/sub, rate limits),
 * with its own data folder and Redis key prefix, both removed afterwards.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { signUpUser } from '../test/support/harness.ts';
import { clientChannels, deleteKeys, REDIS_URL } from './redis-keys.ts';
import { startBenchServer, type BenchServer } from './server.ts';

export interface LoadTarget {
  server: BenchServer;
  prefix: string;
  accounts: { email: string; password: string }[];
  /** Channels the server listens to in Redis for its clients (redis-keys.ts). */
  clientChannels(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startLoadTarget(users: number): Promise<LoadTarget> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'gptql-load-'));
  const prefix = `gptql-load-${process.pid}:`;
  const server = await startBenchServer('gptql', {
    ROLE: 'all',
    DATA_DIR: dataDir,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    // Every virtual user comes from 127.0.0.1, so per-IP sign-in limits would count them as one
    // client; and the per-user generation limit is raised so that it is never what is measured.
    AUTH_RATE_LIMIT_PER_IP: '1000000',
    RATE_LIMIT_PER_MINUTE: '1000',
  });
  const redis = new Redis(REDIS_URL);
  try {
    const accounts: { email: string; password: string }[] = [];
    // A few at a time: each sign-up hashes a password twice, and the server has two cores.
    for (let i = 0; i < users; i += 4) {
      accounts.push(...(await Promise.all(Array.from({ length: Math.min(4, users - i) }, () => signUpUser(server.url, dataDir)))));
    }
    return {
      server,
      prefix,
      accounts,
      clientChannels: () => clientChannels(redis, prefix),
      async stop() {
        await server.stop();
        await deleteKeys(redis, prefix);
        redis.disconnect();
        await fs.rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server.stop();
    redis.disconnect();
    throw error;
  }
}
