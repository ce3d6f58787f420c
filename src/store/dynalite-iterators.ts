/**
 * dynalite 4 reads tables through level 10 iterators wrapped in streams, and when a stream ends
 * it closes the iterator by calling `iterator.return()`, which abstract-level iterators do not
 * have (theirs is `close()`). So every Query and Scan left its iterator open in the database's
 * set of resources: the embedded store leaked about 2 KB per query, found by `npm run soak`.
 * Until dynalite closes them itself, its iterators get the `return()` it calls. The classes are
 * loaded from dynalite's own dependencies, so that the ones patched are the ones it uses.
 */
import { createRequire } from 'node:module';

interface IteratorClass {
  prototype: { return?: unknown; close(): Promise<void> };
}

let patched = false;

export function closeDynaliteIterators(): void {
  if (patched) return;
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const fromLevel = createRequire(fromDynalite.resolve('level'));
  const classes = fromLevel('abstract-level') as Record<'AbstractIterator' | 'AbstractKeyIterator' | 'AbstractValueIterator', IteratorClass>;
  for (const { prototype } of [classes.AbstractIterator, classes.AbstractKeyIterator, classes.AbstractValueIterator]) {
    if (prototype.return !== undefined) continue;
    Object.defineProperty(prototype, 'return', {
      configurable: true,
      writable: true,
      async value(this: { close(): Promise<void> }) {
        await this.close();
        return { done: true, value: undefined };
      },
    });
  }
  patched = true;
}
