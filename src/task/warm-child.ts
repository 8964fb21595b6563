/**
 * Idle task processes: spares started ahead of need, so a task never waits for a process to start,
 * and (TASKS_PER_PROCESS > 1) processes kept between tasks. The runner (./runner.ts) decides when
 * spares start; the pool decides which process a task gets and when an idle one is retired.
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

export function spawnTaskChild(command: ChildCommand, env: NodeJS.ProcessEnv): StartedChild {
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
  // Heard for the process's whole life: a reused one says `ready` after each task. A cheap tag
  // check first, so the other messages (parsed by the task's watcher) are not parsed twice.
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

/**
 * Two tasks in a row finding their spare still starting: a queue, not one task meeting a worker
 * that has just started (whose first spare is still starting too).
 */
const QUEUEING_TAKES = 2;

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
 * The idle task processes: spares started ahead of need (fresh) and, with TASKS_PER_PROCESS > 1,
 * processes that ran tasks and may run more (used). Either kind unused for `ttlMs` is stopped: an
 * idle worker holds no extra process.
 */
export class WarmChildren {
  readonly #ttlMs: number;
  readonly #size: number;
  readonly #reuse: ReuseLimits;
  #spares: Spare[] = [];
  #closed = false;
  /**
   * Tasks come faster than processes start (QUEUEING_TAKES tasks in a row took a spare still
   * starting): hold one spare more than `size`, so two starts overlap on the free core. Dropped
   * when a process sits unused for its time to live.
   */
  #queueing = false;
  /** Tasks in a row that took a fresh spare still starting. */
  #startingTakes = 0;

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
   * A process for a task: a used one (for a reusable task), ready or still undoing its last task,
   * then a fresh spare, ready or still starting. A task that must be fresh takes only a fresh one. None fits:
   * a new one.
   */
  take(command: ChildCommand, env: NodeJS.ProcessEnv, reusable = false): StartedChild {
    const fits = (spare: Spare) =>
      spare.env === env && sameCommand(spare.command, command) && isAlive(spare.started);
    const used = (spare: Spare) => spare.started.tasksRun > 0;
    const fresh = this.#spares.filter((one) => fits(one) && !used(one));
    const reused = reusable ? this.#spares.filter((one) => fits(one) && used(one)) : [];
    // A used process still undoing its last task comes before a fresh spare: it is ready in a
    // moment, and a spare taken is a process start (the costly part) to make up for.
    const spare =
      reused.find((one) => one.started.ready) ??
      reused[0] ??
      fresh.find((one) => one.started.ready) ??
      fresh[0];
    // Those started for another command, or dead, are of no use to anyone.
    for (const one of this.#spares) if (!fits(one)) this.#stop(one);
    if (spare === undefined) return spawnTaskChild(command, env);
    if (!used(spare)) this.#countTake(spare.started.ready);
    this.#spares = this.#spares.filter((one) => one !== spare);
    clearTimeout(spare.timer);
    clearTimeout(spare.readyTimer);
    spare.started.onReady = undefined;
    return spare.started;
  }

  #countTake(ready: boolean): void {
    this.#startingTakes = ready ? 0 : this.#startingTakes + 1;
    if (this.#startingTakes >= QUEUEING_TAKES && this.#size > 0) this.#queueing = true;
  }

  /** Whether a task now starting in `started` may be followed by another in the same process. */
  mayReuse(started: StartedChild): boolean {
    return !this.#closed && started.tasksRun + 1 < this.#reuse.tasksPerProcess;
  }

  /**
   * A process whose task succeeded, back in the pool for the next one. It is retired instead when
   * it reports more memory than REUSE_MAX_RSS (checked on its `ready`, after the task's cleanup).
   */
  giveBack(
    started: StartedChild,
    command: ChildCommand,
    env: NodeJS.ProcessEnv,
    readyWithinMs: number,
  ): void {
    started.tasksRun++;
    if (this.#closed || !isAlive(started)) {
      killTaskTree(started.child);
      return;
    }
    const spare = this.#keep(command, env, started);
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
    spare.readyTimer = setTimeout(() => this.#stop(spare), readyWithinMs);
    spare.readyTimer.unref();
  }

  /** A used process that reported more resident memory than REUSE_MAX_RSS on its last `ready`. */
  isOverLimit(started: StartedChild): boolean {
    const { maxRssBytes } = this.#reuse;
    return maxRssBytes > 0 && (started.rssBytes ?? 0) > maxRssBytes;
  }

  /** The spares' pids (for tests and --status). */
  get sparePids(): number[] {
    return this.#spares.flatMap((spare) => spare.started.child.pid ?? []);
  }

  /**
   * Starts the next tasks' processes now, while the current tasks run: up to one per task that may
   * run at once (one more while tasks queue up), counting the used processes waiting.
   */
  prepare(command: ChildCommand, env: NodeJS.ProcessEnv): void {
    const target = this.#size === 0 ? 0 : this.#size + (this.#queueing ? 1 : 0);
    while (!this.#closed && this.#spares.length < target) {
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
        this.#queueing = false; // a process sat unused that long: tasks are not queueing
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
