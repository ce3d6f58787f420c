import { Repeater } from '@repeaterjs/repeater';
import type { GenerationMeta, GenerationStatus, StreamEvent } from './events.ts';
import { ReplayMerger, subscriptionBuffer, type StreamStore } from './stream-store.ts';

interface Entry {
  meta?: GenerationMeta;
  events: StreamEvent[];
  listeners: Set<(event: StreamEvent) => void>;
  cancelRequested: boolean;
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
      found = { events: [], listeners: new Set(), cancelRequested: false };
      entries.set(id, found);
    }
    clearTimeout(found.expiry);
    found.expiry = setTimeout(() => entries.delete(id), ttlMs);
    found.expiry.unref();
    return found;
  }

  return {
    async create(meta) {
      entry(meta.generationId).meta = { ...meta };
    },
    async get(id) {
      const meta = entries.get(id)?.meta;
      return meta ? { ...meta } : undefined;
    },
    async setStatus(id, status: GenerationStatus) {
      const found = entry(id);
      if (found.meta) found.meta.status = status;
    },
    async append(id, event) {
      const found = entry(id);
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
