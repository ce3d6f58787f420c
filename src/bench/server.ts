/** Starts a benchmark server process (see `server-entry.ts`) and talks to it over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

function nextReply<T extends ServerReply['type']>(child: ChildProcess, type: T): Promise<Extract<ServerReply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: ServerReply) => {
      if (reply.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(reply as Extract<ServerReply, { type: T }>);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`benchmark server exited (${code})`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

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
  const { url } = await nextReply(child, 'ready');
  return {
    url,
    pid: child.pid!,
    async memory() {
      const reply = nextReply(child, 'memory');
      child.send({ type: 'memory' } satisfies ServerRequest);
      const { type: _type, ...sample } = await reply;
      return sample;
    },
    async cpuTime() {
      const reply = nextReply(child, 'cpu');
      child.send({ type: 'cpu' } satisfies ServerRequest);
      return (await reply).microseconds;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' } satisfies ServerRequest);
      await exited;
    },
  };
}
