/** Entry point of the worker (and of its task processes): src/entry.ts picks what to load. */
import { startEntry } from './entry.ts';

startEntry(async () => (await import('./config.ts')).TASK_REGISTRY);
