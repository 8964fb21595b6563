/** Entry point of the worker (and of its task children). */
import { runMain } from './cli.ts';
import { TASK_REGISTRY } from './config.ts';

runMain(TASK_REGISTRY);
