/** Starts a benchmark server process (see `server-entry.ts`) and talks to it over IPC. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reply, stopChild } from './ipc.ts';

export type ServerKind = 'gptql' | 'bare-yoga';

export type ServerRequest = { type: 'memory' } | { type: 'cpu' } | { type: 'stop' };
export interface MemorySample {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  /** process.getActiveResourcesInfo(), counted by kind (Timeout, TCPSocketWrap, …). */
  resources: Record<string, number>;
}
export type ServerReply = { type: 'ready'; url: string } | ({ type: 'memory' } & MemorySample) | { type: 'cpu'; microseconds: number };

export interface BenchServer {
  url: string;
  pid: number;
  /** Memory after a full garbage collection in the server process. */
  memory(): Promise<MemorySample>;
  /**
   * CPU time the server process has used (user + system, all threads), in microseconds. Per
   * request, it is a cost that other load on the machine hardly moves, unlike throughput.
   */
  cpuTime(): Promise<number>;
  stop(): Promise<void>;
}

const entry = fileURLToPath(new URL('./server-entry.ts', import.meta.url));

/**
 * `env` configures gptql as its environment variables do (REDIS_URL, DATA_DIR, …); the server
 * listens on a free loopback port and logs nothing unless LOG_LEVEL says so. With `profileDir`,
 * the server writes a CPU profile there when it stops (`--cpu-prof`, which NODE_OPTIONS refuses).
 */
export async function startBenchServer(kind: ServerKind, env: Record<string, string> = {}, { profileDir }: { profileDir?: string } = {}): Promise<BenchServer> {
  const child = fork(entry, [], {
    execArgv: ['--expose-gc', '--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', NODE_ENV: 'production', ...env, BENCH_SERVER: kind },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { url } = await reply<ServerReply, 'ready'>(child, 'ready');
  return {
    url,
    pid: child.pid!,
    async memory() {
      const { type: _type, ...sample } = await reply<ServerReply, 'memory'>(child, 'memory', { type: 'memory' } satisfies ServerRequest);
      return sample;
    },
    async cpuTime() {
      return (await reply<ServerReply, 'cpu'>(child, 'cpu', { type: 'cpu' } satisfies ServerRequest)).microseconds;
    },
    stop: () => stopChild(child, { type: 'stop' } satisfies ServerRequest),
  };
}
