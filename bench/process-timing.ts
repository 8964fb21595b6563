/** Wall times of starting processes, shared by `npm run bench` and `npm run bench:startup`. */
import { spawn, spawnSync } from 'node:child_process';
import { TASK_CHILD_FLAG } from '../src/task/ipc.ts';

/** Milliseconds from starting `file args` to its exit, which must be 0. */
export function timeRun(file: string, args: string[]): number {
  const started = performance.now();
  const result = spawnSync(file, args, { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}`);
  return performance.now() - started;
}

/**
 * Milliseconds from starting a task process (`file args --task-child`) to its first IPC message
 * (`ready`): what a task without a spare process waits for.
 */
export function timeTaskProcess(file: string, args: string[] = []): Promise<number> {
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
