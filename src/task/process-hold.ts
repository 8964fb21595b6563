/**
 * One task's hold on a task process (./parent.ts): taken from the pool (./pool.ts), watched
 * through listeners it drops together when it lets go, swapped once for a fresh one if a reused
 * process turns out unfit before the task reaches it, and at its end given back or retired.
 */
import type { ChildProcess } from 'node:child_process';
import { type ChildCommand, type StartedChild, TaskProcessPool } from './pool.ts';
import { unfitBeforeRun } from './pool-decisions.ts';

/** For a task run without a pool (a task's own tests): one that holds nothing, starts each process. */
const NO_POOL = new TaskProcessPool(0, 0);

export class ProcessHold {
  readonly #pool: TaskProcessPool;
  readonly #command: ChildCommand;
  readonly #env: NodeJS.ProcessEnv;
  readonly #reusable: boolean;
  #started: StartedChild;
  /** The process runs another task after this one (it stays up after the result). */
  #keep: boolean;
  /** This task's process was swapped for a fresh one before its run. */
  #replaced = false;
  /** Undoes every listener put on the process (a kept one goes on without them). */
  readonly #detach: (() => void)[] = [];

  constructor(
    pool: TaskProcessPool | undefined,
    command: ChildCommand,
    env: NodeJS.ProcessEnv,
    reusable: boolean,
  ) {
    this.#pool = pool ?? NO_POOL;
    this.#command = command;
    this.#env = env;
    this.#reusable = reusable;
    this.#started = this.#pool.take(command, env, reusable);
    this.#keep = this.#pool.keeps(this.#started);
  }

  get started(): StartedChild {
    return this.#started;
  }

  get child(): ChildProcess {
    return this.#started.child;
  }

  /** The process is kept for another task after this one. */
  get keep(): boolean {
    return this.#keep;
  }

  listen<Args extends unknown[]>(
    emitter: NodeJS.EventEmitter,
    event: string,
    listener: (...args: Args) => void,
  ): void {
    emitter.on(event, listener);
    this.#detach.push(() => emitter.off(event, listener));
  }

  /** A reused process that died or came back past REUSE_MAX_RSS before the task was sent to it. */
  isUnfit(task: { runSent: boolean; stopped: boolean }): boolean {
    const { tasksRun, child } = this.#started;
    return unfitBeforeRun({
      tasksRun,
      ...task,
      replaced: this.#replaced,
      connected: child.connected,
      overLimit: this.#pool.isOverLimit(this.#started),
    });
  }

  /** Swaps the process for a fresh one (once): the old one is retired, its listeners dropped. */
  replace(): boolean {
    if (this.#replaced) return false;
    this.#replaced = true;
    this.#dropListeners();
    this.#pool.retire(this.#started);
    // A fresh one (no used process), kept after the task as the one it replaces would have been.
    this.#started = this.#pool.take(this.#command, this.#env, false, this.#reusable);
    this.#keep = this.#pool.keeps(this.#started);
    return true;
  }

  /** Stops the process and whatever it started. */
  kill(): void {
    this.#pool.retire(this.#started);
  }

  /** A kept process after its task: to the pool (giveBack), without this task's listeners. */
  handOver(succeeded: boolean, readyWithinMs: number): void {
    this.#dropListeners();
    const { child } = this.#started;
    // Nobody reads its output until the next task: the pipes must not fill up.
    child.stdout?.resume();
    child.stderr?.resume();
    this.#pool.giveBack(this.#started, {
      succeeded,
      command: this.#command,
      env: this.#env,
      readyWithinMs,
    });
  }

  #dropListeners(): void {
    for (const undo of this.#detach.splice(0)) undo();
  }
}
