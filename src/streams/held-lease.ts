/**
 * A writer's side of a generation lease: claims it, renews it in the background while the
 * writer runs, and says when it is gone.
 */
import { heartbeatInterval } from '../queue/queue-runtime.ts';
import { LeaseLostError, type StreamStore } from './stream-store.ts';

export interface HeldLease {
  /** The fencing token every write of this writer carries. */
  readonly token: number;
  /** Aborted once a renewal finds the lease gone (another writer claimed it, or it lapsed). */
  readonly lost: AbortSignal;
  /**
   * Renews now, and throws LeaseLostError unless the lease is still held: for a write the store
   * cannot fence (one outside it), made right after.
   */
  confirm(): Promise<void>;
  /** Stops renewing; the lease lapses by itself. */
  release(): void;
}

export interface HoldLeaseOptions {
  store: StreamStore;
  generationId: string;
  owner: string;
  ttlMs: number;
  /** A renewal that could not reach the store; the lease is kept, and the next renewal tries again. */
  onRenewError(error: unknown): void;
}

export async function holdLease({ store, generationId, owner, ttlMs, onRenewError }: HoldLeaseOptions): Promise<HeldLease> {
  const token = await store.claim(generationId, owner, ttlMs);
  const lost = new AbortController();
  let renewing: Promise<void> | undefined;
  const renew = async () => {
    if (!(await store.renew(generationId, token, ttlMs))) lost.abort(new LeaseLostError(generationId));
  };
  // Renewed at the cadence of the job's own visibility heartbeat (the lease lives as long as the
  // job's visibility): one late or failed renewal does not let it lapse under a running writer.
  const timer = setInterval(
    () => {
      if (renewing || lost.signal.aborted) return;
      renewing = renew()
        .catch(onRenewError)
        .finally(() => (renewing = undefined));
    },
    heartbeatInterval(ttlMs),
  );
  return {
    token,
    lost: lost.signal,
    async confirm() {
      if (!lost.signal.aborted) await renew();
      if (lost.signal.aborted) throw new LeaseLostError(generationId);
    },
    release() {
      clearInterval(timer);
    },
  };
}
