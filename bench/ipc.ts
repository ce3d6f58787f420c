/** Talking to a forked benchmark process: send a request, wait for its reply, stop it. */
import type { ChildProcess } from 'node:child_process';

/**
 * The next message of type `type` from `child`, after sending `request` (if any); rejects if the
 * child exits first. Listening starts before the request goes, so a quick reply is not missed.
 */
export function reply<Reply extends { type: string }, T extends Reply['type']>(
  child: ChildProcess,
  type: T,
  request?: unknown,
): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Reply) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message as Extract<Reply, { type: T }>);
    };
    const onExit = (code: number | null) => {
      child.off('message', onMessage);
      reject(new Error(`${child.spawnargs.at(-1)} exited (${code}) before answering ${type}`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    if (request !== undefined) child.send(request as object);
  });
}

/** Sends `request` (the child's own stop message) and waits for the child to exit. */
export async function stopChild(child: ChildProcess, request: unknown): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send(request as object);
  await exited;
}
