/**
 * The one owner of running a task in a process: the gate (./gate.ts), the run (./parent.ts) in a
 * process from the pool (./pool.ts), and telling the pool when a task starts and when its result
 * is answered, so it knows when to start the next process. The loop knows nothing of processes.
 */
import type { Task, TaskLogLine } from '../wire/protocol.ts';
import type { TaskRegistry } from './define.ts';
import { type Admission, type AdmittedTask, admitTask } from './gate.ts';
import { type ChildCommand, runInChild, type TaskOutcome } from './parent.ts';
import { SPARE_START_DELAY_MS, TaskProcessPool } from './pool.ts';

export interface TaskRunnerOptions {
  registry: TaskRegistry;
  /** How this program starts itself in task mode (command.ts `selfCommand`). */
  command: ChildCommand;
  /** Environment of task processes (secrets stripped by the caller). */
  env: NodeJS.ProcessEnv;
  /** The task-process pool; without it, one that holds none: each task starts its own. */
  pool?: TaskProcessPool | undefined;
  /** TASK_TIMEOUT: when neither the server nor the task's definition sets one. */
  defaultTimeoutMs: number;
  killGraceMs: number;
  maxResultBytes: number;
  /** Where task processes write big outputs (the outbox's spool/); without it, all come over IPC. */
  spoolDir?: string;
  scrub: (text: string) => string;
  /** How far into a task its successor's process starts. @default SPARE_START_DELAY_MS */
  spareStartDelayMs?: number;
}

export interface RunControls {
  /** Aborted with a StopReason ('cancel' | 'shutdown') to stop the task from outside. */
  signal: AbortSignal;
  onLog?: (line: TaskLogLine) => void;
  onProgress?: (progress: { percent?: number | undefined; message?: string | undefined }) => void;
}

export class TaskRunner {
  readonly #options: TaskRunnerOptions;
  readonly #pool: TaskProcessPool;

  constructor(options: TaskRunnerOptions) {
    this.#options = options;
    this.#pool = options.pool ?? new TaskProcessPool(0, 0);
  }

  /** The task types this worker runs: what a claim asks the server for. */
  get taskTypes(): string[] {
    return Object.keys(this.#options.registry);
  }

  /** The gate (./gate.ts): whether this worker runs the task, and under what timeout. */
  admit(task: Task): Admission {
    return admitTask(task, this.#options.registry, this.#options.defaultTimeoutMs);
  }

  /** Runs one task (through the gate, unless it passed already) to its outcome; never throws. */
  async run(task: Task | AdmittedTask, controls: RunControls): Promise<TaskOutcome> {
    const { command, env } = this.#options;
    const admission = 'admitted' in task ? task : this.admit(task);
    if (!admission.admitted) return admission.outcome;
    const delayMs = this.#options.spareStartDelayMs ?? SPARE_START_DELAY_MS;
    const cancelSpare = this.#pool.taskStarted(command, env, delayMs);
    try {
      return await runInChild(admission.task, {
        command,
        env,
        timeoutMs: admission.timeoutMs,
        killGraceMs: this.#options.killGraceMs,
        maxResultBytes: this.#options.maxResultBytes,
        spoolDir: this.#options.spoolDir,
        signal: controls.signal,
        pool: this.#pool,
        // Whether its process may have run others, or run more, is the pool's to say (TASKS_PER_PROCESS).
        reusable: admission.reusable,
        scrub: this.#options.scrub,
        ...(controls.onLog === undefined ? {} : { onLog: controls.onLog }),
        ...(controls.onProgress === undefined ? {} : { onProgress: controls.onProgress }),
      });
    } finally {
      cancelSpare();
    }
  }

  /** A finished task's result has been answered: the next task's process may start now. */
  release(): void {
    this.#pool.prepare(this.#options.command, this.#options.env);
  }

  /** Stops the pool's processes and starts no more (the worker is stopping). */
  close(): void {
    this.#pool.close();
  }
}
