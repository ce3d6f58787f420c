/** Starts the fan-out benchmark's publisher process (`fanout-publisher-entry.ts`) and drives it over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reply, stopChild } from './ipc.ts';

export type PublisherRequest =
  | { type: 'create'; generations: { generationId: string; userId: string }[] }
  | { type: 'publish'; rate: number; seconds: number }
  | { type: 'complete' }
  | { type: 'stop' };
export type PublisherReply =
  | { type: 'ready' }
  | { type: 'created' }
  | { type: 'published'; published: number; seconds: number }
  | { type: 'completed' };

const entry = fileURLToPath(new URL('./fanout-publisher-entry.ts', import.meta.url));

/** Sends `message` and waits for the reply of type `type`. */
const request = <T extends PublisherReply['type']>(child: ChildProcess, message: PublisherRequest | undefined, type: T) =>
  reply<PublisherReply, T>(child, type, message);

export interface Publisher {
  /** Stream-store generations owned by the given users, replacing the previous round's. */
  create(generations: { generationId: string; userId: string }[]): Promise<void>;
  /** Token events at `rate` per second in all, spread evenly over the generations. */
  publish(rate: number, seconds: number): Promise<{ published: number; seconds: number }>;
  /** Appends each generation's terminal event, which ends its subscriptions. */
  complete(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPublisher(env: { REDIS_URL: string; REDIS_KEY_PREFIX: string }): Promise<Publisher> {
  const child = fork(entry, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await request(child, undefined, 'ready');
  return {
    create: async (generations) => void (await request(child, { type: 'create', generations }, 'created')),
    publish: async (rate, seconds) => {
      const { published, seconds: took } = await request(child, { type: 'publish', rate, seconds }, 'published');
      return { published, seconds: took };
    },
    complete: async () => void (await request(child, { type: 'complete' }, 'completed')),
    stop: () => stopChild(child, { type: 'stop' } satisfies PublisherRequest),
  };
}
