/**
 * The one owner of running a task in a process. It puts the task through the gate (./gate.ts: an
 * unknown type or out-of-range bound is answered there, without starting a process), runs the task in a process
 * (a spare started ahead of need, one kept from an earlier task, or a new one: task/parent.ts), and
 * decides when the next task's process is started. Reuse (TASKS_PER_PROCESS) stays in here and the
 * pool (task/warm-child.ts): the loop never knows whether a process was fresh. The loop asks
 * `run(task, …)` and gets an outcome; it knows nothing of processes.
 */
import type { Task, TaskLogLine } from '../wire/protocol.ts';
import type { TaskRegistry } from './define.ts';
import { type Admission, type AdmittedTask, admitTask } from './gate.ts';
import { type ChildCommand, runInChild, type TaskOutcome } from './parent.ts';
import type { WarmChildren } from './warm-child.ts';

/**
 * A task that runs longer than this gets the next task's process started beside it; a shorter one
 * gets it once the server has answered its result (`release`, from the loop). Starting it at once
 * would make every short task share the cores with a process start, and spawn() blocks the thread
 * for a while that the result's delivery would wait for (docs/performance.md, "Why these
 * choices").
 */
export const SPARE_START_DELAY_MS = 20;

export interface TaskRunnerOptions {
  registry: TaskRegistry;
  /** How this program starts itself in task mode (command.ts `selfCommand`). */
  command: ChildCommand;
  /** Environment of task processes (secrets stripped by the caller). */
  env: NodeJS.ProcessEnv;
  /** Task processes started ahead of need; without it, each task starts its own when it comes. */
  warm?: WarmChildren | undefined;
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
  #closed = false;

  constructor(options: TaskRunnerOptions) {
    this.#options = options;
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
    const { warm, command, env } = this.#options;
    const admission = 'admitted' in task ? task : this.admit(task);
    if (!admission.admitted) return admission.outcome;
    const spareTimer =
      warm === undefined
        ? undefined
        : setTimeout(
            () => this.#prepareSpare(),
            this.#options.spareStartDelayMs ?? SPARE_START_DELAY_MS,
          );
    try {
      return await runInChild(admission.task, {
        command,
        env,
        timeoutMs: admission.timeoutMs,
        killGraceMs: this.#options.killGraceMs,
        maxResultBytes: this.#options.maxResultBytes,
        spoolDir: this.#options.spoolDir,
        signal: controls.signal,
        ...(warm === undefined ? {} : { warm }),
        // Whether its process may have run others, or run more, is the pool's to say (TASKS_PER_PROCESS).
        reusable: admission.reusable,
        scrub: this.#options.scrub,
        ...(controls.onLog === undefined ? {} : { onLog: controls.onLog }),
        ...(controls.onProgress === undefined ? {} : { onProgress: controls.onProgress }),
      });
    } finally {
      clearTimeout(spareTimer);
    }
  }

  /** A finished task's result has been answered: the next task's process may start now. */
  release(): void {
    this.#prepareSpare();
  }

  /** Stops the spares and starts no more (the worker is stopping). */
  close(): void {
    this.#closed = true;
    this.#options.warm?.close();
  }

  #prepareSpare(): void {
    if (!this.#closed) this.#options.warm?.prepare(this.#options.command, this.#options.env);
  }
}
