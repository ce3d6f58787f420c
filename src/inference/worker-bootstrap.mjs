// Runs the TypeScript inference worker under tsx: worker threads do not inherit the loader
// that `tsx` installed in the main thread. Built (dist/), the worker runs as JavaScript directly.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
