/** Wall times of starting processes, shared by `npm run bench` and `npm run bench:startup`. */
import { spawn, spawnSync } from 'node:child_process';
import { selfCommand } from '../src/task/command.ts';
import type { ChildCommand } from '../src/task/pool.ts';

/** Milliseconds from starting `file args` to its exit, which must be 0. */
export function timeRun(file: string, args: string[]): number {
  const started = performance.now();
  const result = spawnSync(file, args, { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}`);
  return performance.now() - started;
}

/** A task process of the executable `exe`, started exactly as the worker starts one. */
export function taskProcessOf(exe: string): ChildCommand {
  return { ...selfCommand(true, 0, 'loopback'), file: exe };
}

/**
 * Milliseconds from starting a task process to its first IPC message (`ready`): what a task
 * without a spare process waits for. `command` ends in --task-child (taskProcessOf for the
 * executable).
 */
export function timeTaskProcess({ file, args }: ChildCommand): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    child.once('message', () => {
      resolve(performance.now() - started);
      child.kill();
    });
    child.once('error', reject);
  });
}
