/**
 * The task-process pool: every task process is started, taken, given back and retired here —
 * spares ahead of need (WARM_START) and processes kept between tasks (TASKS_PER_PROCESS > 1).
 * Its decisions are ./pool-decisions.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { ChildMessageSchema } from './child-messages.ts';
import {
  afterFreshTake,
  afterTask,
  isOverLimit,
  mayReuse,
  pickIdle,
  sparesToStart,
  startsOnTake,
  type TakeStreak,
} from './pool-decisions.ts';
import { killTaskTree, launchTaskProcess } from './task-processes.ts';

/**
 * A task running longer than this gets the next task's process started beside it; a shorter one
 * once its result is answered, so a spawn never delays it (docs/performance.md, "Why these
 * choices") — unless tasks queue up: then when it takes its process (`startsOnTake`).
 */
export const SPARE_START_DELAY_MS = 20;

/** How to start this program again in task mode: the executable itself, or node + the entry file. */
export interface ChildCommand {
  file: string;
  args: string[];
}

export interface StartedChild {
  child: ChildProcess;
  /** The child said `ready` and has not been given a task since. */
  ready: boolean;
  /** spawn() failed (recorded here, so an early error never goes unheard). */
  error: Error | undefined;
  /** Tasks this process has run: 0 for a fresh one. */
  tasksRun: number;
  /** Resident memory it reported with its last `ready` (a reused process reports it). */
  rssBytes: number | undefined;
  /** Called on each `ready` (the pool checks a returned process's memory). */
  onReady: (() => void) | undefined;
}

/** Starts a task process: only the pool does (it decides when). */
function spawnTaskChild(command: ChildCommand, env: NodeJS.ProcessEnv): StartedChild {
  const child = launchTaskProcess(command.file, command.args, env);
  const started: StartedChild = {
    child,
    ready: false,
    error: undefined,
    tasksRun: 0,
    rssBytes: undefined,
    onReady: undefined,
  };
  child.on('error', (error) => {
    started.error = error;
  });
  // For the process's whole life (a reused one says `ready` after each task); the tag is checked
  // first so the task's watcher alone parses the other messages.
  child.on('message', (raw) => {
    if ((raw as { type?: unknown } | null)?.type !== 'ready') return;
    const parsed = ChildMessageSchema.safeParse(raw);
    if (parsed.success && parsed.data.type === 'ready') {
      started.ready = true;
      started.rssBytes = parsed.data.rssBytes;
      started.onReady?.();
    }
  });
  return started;
}

const isAlive = ({ child }: StartedChild) =>
  child.exitCode === null && child.signalCode === null && child.connected;

interface Spare {
  command: ChildCommand;
  env: NodeJS.ProcessEnv;
  started: StartedChild;
  timer: NodeJS.Timeout;
  /** A used process still undoing its task: stopped if it has not said `ready` by then. */
  readyTimer?: NodeJS.Timeout;
}

export interface ReuseLimits {
  /** TASKS_PER_PROCESS: tasks a process runs before it is retired; 1 = a fresh process per task. */
  tasksPerProcess: number;
  /** REUSE_MAX_RSS: a returned process with more resident memory than this is retired (0 = none). */
  maxRssBytes: number;
}

/**
 * A task takes a process (`take`) and at its end gives it back or retires it; only the pool starts
 * processes. It holds fresh spares and used processes; either kind unused for `ttlMs` is stopped.
 */
export class TaskProcessPool {
  readonly #ttlMs: number;
  readonly #size: number;
  readonly #reuse: ReuseLimits;
  #spares: Spare[] = [];
  /** Processes out on a task that come back to the pool after it (kept: TASKS_PER_PROCESS). */
  readonly #comingBack = new Set<StartedChild>();
  #closed = false;
  /** Tasks coming faster than processes start: one spare more than `size` is held. */
  #streak: TakeStreak = { startingTakes: 0, queueing: false };

  /**
   * @param ttlMs how long an unused process lives
   * @param size how many fresh spares to hold: one per task that may run at once (CONCURRENCY);
   *   0 holds none (a pool only for reused processes, WARM_START=false)
   */
  constructor(
    ttlMs: number,
    size = 1,
    reuse: ReuseLimits = { tasksPerProcess: 1, maxRssBytes: 0 },
  ) {
    this.#ttlMs = ttlMs;
    this.#size = size;
    this.#reuse = reuse;
  }

  /**
   * A process for a task (./pool-decisions.ts `pickIdle`); none fits: a new one. `reusable`: it may
   * be a used one; `keepable`: it comes back after the task while TASKS_PER_PROCESS allows (`keeps`
   * says so for the process taken), by default as `reusable` (a replacement is fresh but kept).
   */
  take(
    command: ChildCommand,
    env: NodeJS.ProcessEnv,
    reusable = false,
    keepable = reusable,
  ): StartedChild {
    const fits = (spare: Spare) =>
      spare.env === env && sameCommand(spare.command, command) && isAlive(spare.started);
    // Those started for another command, or dead, are of no use to anyone.
    for (const one of this.#spares) if (!fits(one)) this.#stop(one);
    const idle = this.#spares.map((spare) => ({ spare, ...spare.started }));
    const spare = pickIdle(idle, reusable)?.spare;
    const took = spare === undefined ? 'none' : spare.started.tasksRun === 0 ? 'fresh' : 'used';
    if (spare !== undefined && took === 'fresh') {
      this.#streak = afterFreshTake(this.#streak, spare.started.ready, this.#size);
    }
    const started = spare?.started ?? spawnTaskChild(command, env);
    const { tasksPerProcess } = this.#reuse;
    const comesBack = keepable && mayReuse(started.tasksRun, tasksPerProcess, this.#closed);
    if (comesBack) this.#comingBack.add(started);
    const startNext = startsOnTake({
      size: this.#size,
      queueing: this.#streak.queueing,
      closed: this.#closed,
      took,
      last: !comesBack,
    });
    // On the next turn: the task's `run` goes out before spawn() holds the thread.
    if (startNext) setImmediate(() => this.prepare(command, env));
    if (spare === undefined) return started;
    this.#spares = this.#spares.filter((one) => one !== spare);
    clearTimeout(spare.timer);
    clearTimeout(spare.readyTimer);
    started.onReady = undefined;
    return started;
  }

  /** Whether a process just taken comes back after its task (`take` decided it: the task's keep). */
  keeps(started: StartedChild): boolean {
    return this.#comingBack.has(started);
  }

  /**
   * A kept process after its task: back in the pool when the task succeeded, else retired; retired
   * later if its `ready` reports more than REUSE_MAX_RSS or does not come within `readyWithinMs`.
   */
  giveBack(
    started: StartedChild,
    end: {
      succeeded: boolean;
      command: ChildCommand;
      env: NodeJS.ProcessEnv;
      readyWithinMs: number;
    },
  ): void {
    this.#comingBack.delete(started);
    started.tasksRun++;
    const alive = isAlive(started);
    if (afterTask({ succeeded: end.succeeded, closed: this.#closed, alive }) === 'retire') {
      this.retire(started);
      return;
    }
    const spare = this.#keep(end.command, end.env, started);
    const checkMemory = () => {
      if (this.isOverLimit(started)) this.#stop(spare);
    };
    if (started.ready) {
      checkMemory();
      return;
    }
    // A task that takes it before then checks it itself (parent.ts).
    started.onReady = () => {
      clearTimeout(spare.readyTimer);
      checkMemory();
    };
    spare.readyTimer = setTimeout(() => this.#stop(spare), end.readyWithinMs);
    spare.readyTimer.unref();
  }

  /** A process that runs no more tasks: it and whatever it started are stopped now. */
  retire(started: StartedChild): void {
    this.#comingBack.delete(started);
    const { child } = started;
    if (child.exitCode === null && child.signalCode === null) killTaskTree(child);
  }

  /** A used process that reported more resident memory than REUSE_MAX_RSS on its last `ready`. */
  isOverLimit(started: StartedChild): boolean {
    return isOverLimit(started.rssBytes, this.#reuse.maxRssBytes);
  }

  /**
   * A task has started: the next tasks' processes start beside it once it has run `delayMs`
   * (SPARE_START_DELAY_MS); a shorter task's successors start on `prepare`. Returns the cancel.
   */
  taskStarted(command: ChildCommand, env: NodeJS.ProcessEnv, delayMs: number): () => void {
    if (this.#size === 0) return () => {};
    const timer = setTimeout(() => this.prepare(command, env), delayMs);
    return () => clearTimeout(timer);
  }

  /** The spares' pids (for tests and --status). */
  get sparePids(): number[] {
    return this.#spares.flatMap((spare) => spare.started.child.pid ?? []);
  }

  /**
   * Starts the next tasks' processes now: up to `size` idle (one more while tasks queue up),
   * counting the kept processes out on a task as idle ones (they come back after it).
   */
  prepare(command: ChildCommand, env: NodeJS.ProcessEnv): void {
    const { queueing } = this.#streak;
    const count = sparesToStart({
      size: this.#size,
      queueing,
      idle: this.#spares.length,
      comingBack: this.#comingBack.size,
      closed: this.#closed,
    });
    for (let i = 0; i < count; i++) {
      const started = spawnTaskChild(command, env);
      // Not waited on by anyone until taken: its pipes must not fill up, its exit needs no one.
      started.child.stdout?.resume();
      started.child.stderr?.resume();
      this.#keep(command, env, started);
    }
  }

  /** Stops every spare, and starts no more (the worker is stopping). */
  close(): void {
    this.#closed = true;
    for (const spare of this.#spares) this.#stop(spare);
  }

  #keep(command: ChildCommand, env: NodeJS.ProcessEnv, started: StartedChild): Spare {
    const spare: Spare = {
      command,
      env,
      started,
      timer: setTimeout(() => {
        // A process sat unused that long: tasks are not queueing.
        this.#streak = { ...this.#streak, queueing: false };
        this.#stop(spare);
      }, this.#ttlMs),
    };
    spare.timer.unref();
    this.#spares.push(spare);
    return spare;
  }

  #stop(spare: Spare): void {
    this.#spares = this.#spares.filter((one) => one !== spare);
    clearTimeout(spare.timer);
    clearTimeout(spare.readyTimer);
    spare.started.onReady = undefined;
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
