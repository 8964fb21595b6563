/** Wall times of starting processes, shared by `npm run bench` and `npm run bench:startup`. */
import { spawn, spawnSync } from 'node:child_process';
import { TASK_CHILD_FLAG } from '../src/task/flag.ts';
import { TASK_V8_FLAGS } from '../src/task/parent.ts';

/** Milliseconds from starting `file args` to its exit, which must be 0. */
export function timeRun(file: string, args: string[]): number {
  const started = performance.now();
  const result = spawnSync(file, args, { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}`);
  return performance.now() - started;
}

/** The V8 flags the worker gives its task processes, as the executable takes them. */
export const TASK_NODE_OPTIONS = `--node-options=${TASK_V8_FLAGS.join(' ')}`;

/**
 * Milliseconds from starting a task process (`file args --task-child`) to its first IPC message
 * (`ready`): what a task without a spare process waits for. Give it the worker's flags:
 * [TASK_NODE_OPTIONS] for the executable, [...TASK_V8_FLAGS, entry] from source.
 */
export function timeTaskProcess(file: string, args: string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args, TASK_CHILD_FLAG], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    child.once('message', () => {
      resolve(performance.now() - started);
      child.kill();
    });
    child.once('error', reject);
  });
}
