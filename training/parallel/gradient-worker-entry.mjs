// Worker threads on Node 20 do not apply the parent's --import loaders to their entry module: register the
// TypeScript loader here, then load the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./gradient-worker.ts');
