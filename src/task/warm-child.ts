/**
 * Task processes, started ahead of need. Each task still gets a fresh process, but the next one is
 * started while the current task runs, so a task never waits for a process to start. A spare
 * that is not used within its time to live is stopped: an idle worker holds no extra process.
 */
import type { ChildProcess } from 'node:child_process';
import { ChildMessageSchema } from './child-messages.ts';
import { killTaskTree, launchTaskProcess } from './task-processes.ts';

/** How to start this program again in task mode: the executable itself, or node + the entry file. */
export interface ChildCommand {
  file: string;
  args: string[];
}

export interface StartedChild {
  child: ChildProcess;
  /** The child said `ready` (before anyone listened for it). */
  ready: boolean;
  /** spawn() failed (recorded here, so an early error never goes unheard). */
  error: Error | undefined;
}

export function spawnTaskChild(command: ChildCommand, env: NodeJS.ProcessEnv): StartedChild {
  const child = launchTaskProcess(command.file, command.args, env);
  const started: StartedChild = { child, ready: false, error: undefined };
  child.on('error', (error) => {
    started.error = error;
  });
  const onReady = (raw: unknown) => {
    const parsed = ChildMessageSchema.safeParse(raw);
    if (parsed.success && parsed.data.type === 'ready') {
      started.ready = true;
      child.off('message', onReady);
    }
  };
  child.on('message', onReady);
  return started;
}

const isAlive = ({ child }: StartedChild) =>
  child.exitCode === null && child.signalCode === null && child.connected;

interface Spare {
  command: ChildCommand;
  env: NodeJS.ProcessEnv;
  started: StartedChild;
  timer: NodeJS.Timeout;
}

export class WarmChildren {
  readonly #ttlMs: number;
  readonly #size: number;
  #spares: Spare[] = [];
  #closed = false;

  /**
   * @param ttlMs how long an unused spare lives
   * @param size how many spares to hold: one per task that may run at once (CONCURRENCY)
   */
  constructor(ttlMs: number, size = 1) {
    this.#ttlMs = ttlMs;
    this.#size = size;
  }

  /** A fresh child for a task: a spare that fits and is alive (ready ones first), else a new one. */
  take(command: ChildCommand, env: NodeJS.ProcessEnv): StartedChild {
    const fits = (spare: Spare) =>
      spare.env === env && sameCommand(spare.command, command) && isAlive(spare.started);
    const spare =
      this.#spares.find((one) => fits(one) && one.started.ready) ?? this.#spares.find(fits);
    if (spare !== undefined) {
      this.#spares = this.#spares.filter((one) => one !== spare);
      clearTimeout(spare.timer);
      return spare.started;
    }
    // None fits: those left were started for another command, or have died.
    for (const spare of this.#spares) this.#stop(spare);
    return spawnTaskChild(command, env);
  }

  /** The spares' pids (for tests and --status). */
  get sparePids(): number[] {
    return this.#spares.flatMap((spare) => spare.started.child.pid ?? []);
  }

  /** Starts the next tasks' processes now, while the current tasks run, up to the pool's size. */
  prepare(command: ChildCommand, env: NodeJS.ProcessEnv): void {
    while (!this.#closed && this.#spares.length < this.#size) {
      const started = spawnTaskChild(command, env);
      // Not waited on by anyone until taken: its pipes must not fill up, its exit needs no one.
      started.child.stdout?.resume();
      started.child.stderr?.resume();
      const spare: Spare = {
        command,
        env,
        started,
        timer: setTimeout(() => this.#stop(spare), this.#ttlMs),
      };
      spare.timer.unref();
      this.#spares.push(spare);
    }
  }

  /** Stops every spare, and starts no more (the worker is stopping). */
  close(): void {
    this.#closed = true;
    for (const spare of this.#spares) this.#stop(spare);
  }

  #stop(spare: Spare): void {
    this.#spares = this.#spares.filter((one) => one !== spare);
    clearTimeout(spare.timer);
    killTaskTree(spare.started.child);
  }
}

function sameCommand(a: ChildCommand, b: ChildCommand): boolean {
  return (
    a.file === b.file &&
    a.args.length === b.args.length &&
    a.args.every((arg, i) => arg === b.args[i])
  );
}
