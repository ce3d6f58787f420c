import { Repeater } from '@repeaterjs/repeater';
import type { GenerationMeta, GenerationStatus, StreamEvent } from './events.ts';
import { LeaseLostError, ReplayMerger, subscriptionBuffer, type StreamStore } from './stream-store.ts';

interface Lease {
  token: number;
  owner: string;
  expiresAt: number;
}

interface Entry {
  meta?: GenerationMeta;
  events: StreamEvent[];
  listeners: Set<(event: StreamEvent) => void>;
  cancelRequested: boolean;
  /** The last fencing token given out; kept after its lease lapses, so that tokens only grow. */
  fence: number;
  lease?: Lease;
  expiry?: NodeJS.Timeout;
}

/** The embedded stream store: everything in this process, forgotten `ttlMs` after the last write. */
export function createMemoryStreamStore(ttlMs: number): StreamStore {
  const entries = new Map<string, Entry>();
  const cancelHandlers = new Set<(id: string) => void>();
  let active = 0;

  function entry(id: string): Entry {
    let found = entries.get(id);
    if (!found) {
      found = { events: [], listeners: new Set(), cancelRequested: false, fence: 0 };
      entries.set(id, found);
    }
    clearTimeout(found.expiry);
    found.expiry = setTimeout(() => entries.delete(id), ttlMs);
    found.expiry.unref();
    return found;
  }

  const live = (lease: Lease | undefined) => (lease && lease.expiresAt > Date.now() ? lease : undefined);

  /** The entry, if `token` holds its lease; otherwise throws LeaseLostError. */
  function leased(id: string, token: number): Entry {
    const lease = live(entries.get(id)?.lease);
    if (lease?.token !== token) throw new LeaseLostError(id, lease?.owner);
    return entry(id);
  }

  return {
    async create(meta) {
      entry(meta.generationId).meta = { ...meta };
    },
    async get(id) {
      const meta = entries.get(id)?.meta;
      return meta ? { ...meta } : undefined;
    },
    async claim(id, owner, ttlMs) {
      const found = entry(id);
      found.fence += 1;
      found.lease = { token: found.fence, owner, expiresAt: Date.now() + ttlMs };
      return found.fence;
    },
    async renew(id, token, ttlMs) {
      const lease = live(entries.get(id)?.lease);
      if (lease?.token !== token) return false;
      lease.expiresAt = Date.now() + ttlMs;
      return true;
    },
    async setStatus(id, token, status: GenerationStatus) {
      const found = leased(id, token);
      if (found.meta) found.meta.status = status;
    },
    async append(id, token, event) {
      const found = leased(id, token);
      found.events.push(event);
      for (const listener of found.listeners) listener(event);
    },
    async history(id) {
      return [...(entries.get(id)?.events ?? [])];
    },
    subscribe(id, after) {
      return new Repeater<StreamEvent>(async (push, stop) => {
        const merger = new ReplayMerger(after);
        const found = entry(id);
        const deliver = (batch: StreamEvent[]) => {
          for (const event of merger.accept(batch)) void push(event);
          if (merger.finished) stop();
        };
        const listener = (event: StreamEvent) => deliver([event]);
        found.listeners.add(listener);
        active++;
        deliver(found.events);
        await stop;
        found.listeners.delete(listener);
        active--;
      }, subscriptionBuffer());
    },
    async requestCancel(id) {
      entry(id).cancelRequested = true;
      for (const handler of cancelHandlers) handler(id);
    },
    async isCancelRequested(id) {
      return entries.get(id)?.cancelRequested ?? false;
    },
    async onCancel(handler) {
      cancelHandlers.add(handler);
      return async () => void cancelHandlers.delete(handler);
    },
    activeSubscriptions: () => active,
    async close() {
      for (const found of entries.values()) clearTimeout(found.expiry);
      entries.clear();
      cancelHandlers.clear();
    },
  };
}
