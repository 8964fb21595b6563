/**
 * The parent side: one task run in a task process (./process-hold.ts) over IPC, watched for
 * timeout, cancel, shutdown, crash and output limits. Whatever the child does, this resolves with
 * an outcome; it never throws for the task's sake.
 */
import type { Task, TaskLogLine } from '../wire/protocol.ts';
import { type ChildMessage, ChildMessageSchema } from './child-messages.ts';
import { IPC_VERSION, type ParentMessage, type StopReason } from './ipc.ts';
import { LogTail } from './log-tail.ts';
import type { ChildCommand, TaskProcessPool } from './pool.ts';
import { ProcessHold } from './process-hold.ts';
import { ProcessOutput } from './process-output.ts';
import { TaskSpool } from './spool.ts';
import { crashError, type TaskOutcome, type Verdict, verdictOf } from './verdict.ts';

export type { ChildCommand, TaskOutcome };

export interface RunOptions {
  command: ChildCommand;
  timeoutMs: number;
  killGraceMs: number;
  maxResultBytes: number;
  /** Where big outputs are written (the outbox's spool/); without it, every output comes over IPC. */
  spoolDir?: string | undefined;
  /** Aborted with a StopReason ('cancel' | 'shutdown') to stop the task from outside. */
  signal: AbortSignal;
  /** Where a process started ahead of need is taken from; without it, the task starts its own. */
  pool?: TaskProcessPool;
  /**
   * The task may run in a process that ran others, and its process may run more after it
   * (TASKS_PER_PROCESS > 1, the task not `fresh`): on success the process goes back to the pool.
   */
  reusable?: boolean;
  /** Environment of the child (secrets stripped by the caller). */
  env: NodeJS.ProcessEnv;
  scrub: (text: string) => string;
  onLog?: (line: TaskLogLine) => void;
  onProgress?: (progress: { percent?: number | undefined; message?: string | undefined }) => void;
}

export function runInChild(task: Task, options: RunOptions): Promise<TaskOutcome> {
  return new Promise((resolve) => new TaskProcess(task, options, resolve).start());
}

class TaskProcess {
  readonly #task: Task;
  readonly #options: RunOptions;
  readonly #resolve: (outcome: TaskOutcome) => void;
  readonly #tail: LogTail;
  readonly #output: ProcessOutput;
  /** The process this task runs in, and what the pool does with it (./process-hold.ts). */
  #hold: ProcessHold | undefined;
  #runSent = false;
  #unlistenSignal: (() => void) | undefined;
  #result: Extract<ChildMessage, { type: 'result' }> | undefined;
  #stopReason: StopReason | undefined;
  #spawnError: Error | undefined;
  #timers: NodeJS.Timeout[] = [];
  #finished = false;
  #timeoutTimer: NodeJS.Timeout | undefined;
  /** Files for a big payload or output (./spool.ts). */
  readonly #spool: TaskSpool;

  constructor(task: Task, options: RunOptions, resolve: (outcome: TaskOutcome) => void) {
    this.#task = task;
    this.#options = options;
    this.#resolve = resolve;
    this.#tail = new LogTail(options.scrub);
    this.#output = new ProcessOutput(this.#tail);
    this.#spool = new TaskSpool(options.spoolDir);
  }

  start(): void {
    const { command, env, signal, pool, reusable = false } = this.#options;
    const hold = new ProcessHold(pool, command, env, reusable);
    this.#hold = hold;
    this.#attach(hold);
    this.#timeoutTimer = setTimeout(() => this.#stop('timeout'), this.#options.timeoutMs);
    const onAbort = () => this.#stop(signal.reason === 'shutdown' ? 'shutdown' : 'cancel');
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlistenSignal = () => signal.removeEventListener('abort', onAbort);
    }
  }

  /** Watches the held process for this task: its messages, output and end. */
  #attach(hold: ProcessHold): void {
    const { started, child } = hold;
    this.#spawnError = started.error;
    const listen = hold.listen.bind(hold);
    listen(child, 'error', (error: Error) => {
      this.#spawnError = error;
    });
    listen(child, 'message', (raw: unknown) => this.#onMessage(raw));
    if (started.ready) this.#sendRun();
    else if (started.tasksRun > 0) {
      // Still undoing its previous task: one that does not come back in time is replaced.
      this.#timers.push(
        setTimeout(() => this.#runSent || this.#replace(), this.#options.killGraceMs),
      );
    }
    listen(child, 'close', (code: number | null, signalName: NodeJS.Signals | null) => {
      if (this.#isUnfitReused()) {
        this.#replace();
        return;
      }
      for (const timer of this.#timers) clearTimeout(timer);
      this.#finish(code, signalName);
    });
    this.#output.read(child.stdout, 'info', listen);
    this.#output.read(child.stderr, 'error', listen);
  }

  /**
   * A reused process is handed over while still undoing its previous task; if it dies there or
   * comes back past REUSE_MAX_RSS, the task (not started yet) runs in a fresh process, once.
   */
  #isUnfitReused(): boolean {
    const stopped = this.#stopReason !== undefined;
    return this.#hold?.isUnfit({ runSent: this.#runSent, stopped }) === true;
  }

  #replace(): void {
    if (this.#hold?.replace() === true) this.#attach(this.#hold);
  }

  #onMessage(raw: unknown): void {
    const parsed = ChildMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.#tail.push('warn', `ignored a malformed message from the task process`);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'ready':
        // A kept process says `ready` again after its task: that one is the pool's (pool.ts).
        if (this.#isUnfitReused()) this.#replace();
        else if (!this.#runSent) this.#sendRun();
        break;
      case 'log': {
        const line = this.#tail.push(message.level, message.msg, message.at);
        this.#options.onLog?.(line);
        break;
      }
      case 'progress':
        this.#options.onProgress?.({ percent: message.percent, message: message.message });
        break;
      case 'result': {
        const isFirst = this.#result === undefined && this.#stopReason === undefined;
        if (isFirst) this.#result = message;
        // The child exits by itself once the result is sent; one that lingers is killed. A kept
        // one is handed back by #finish (clearing this timer), or retired at once if stopped.
        if (this.#hold?.keep === true && this.#stopReason !== undefined) this.#kill();
        else this.#timers.push(setTimeout(() => this.#kill(), this.#options.killGraceMs));
        // After the timer: with all its output read, the task finishes here and now.
        if (isFirst) void this.#settleThenFinish();
        break;
      }
    }
  }

  #sendRun(): void {
    this.#runSent = true;
    this.#output.countFromRun();
    if (this.#hold !== undefined) this.#hold.started.ready = false;
    void this.#spool.runFields(this.#task).then(({ payload, spool }) => {
      const { id, type, attempt } = this.#task;
      this.#send({
        v: IPC_VERSION,
        type: 'run',
        task: { id, type, attempt, ...payload },
        maxResultBytes: this.#options.maxResultBytes,
        ...(spool === undefined ? {} : { spool }),
        ...(this.#hold?.keep === true ? { reuse: true } : {}),
      });
    });
  }

  /** Abort first (the task may clean up), then kill after the grace period. */
  #stop(reason: StopReason): void {
    if (this.#stopReason !== undefined || this.#result !== undefined) return;
    this.#stopReason = reason;
    this.#send({ v: IPC_VERSION, type: 'abort', reason });
    this.#timers.push(setTimeout(() => this.#kill(), this.#options.killGraceMs));
  }

  /** The task process and whatever it started (./task-processes.ts). */
  #kill(): void {
    this.#hold?.kill();
  }

  #send(message: ParentMessage): void {
    const child = this.#hold?.child;
    if (child?.connected !== true) return;
    child.send(message, (error) => {
      if (error !== null)
        this.#tail.push('warn', `could not reach the task process: ${error.message}`);
    });
  }

  /**
   * The child flushed its output before its result, and the result says how many bytes of each
   * stream that was: once that much is read, the task's output is all in (most often at once).
   * Without the count (streams that cannot count), or short of it, read the pipes until a turn
   * brings no more, then finish without waiting for its exit (docs/performance.md). What the
   * task's own child processes wrote to the inherited pipes is not counted: written before the
   * result, it was in the pipes first, and is normally read first.
   */
  async #settleThenFinish(): Promise<void> {
    const told = this.#result?.stdioBytes;
    const allRead = () => told !== undefined && this.#output.hasRead(told);
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    if (!allRead()) {
      let seen: number;
      do {
        seen = this.#output.chunks;
        await turn();
        await turn();
      } while (seen !== this.#output.chunks && !this.#finished && !allRead());
    }
    // A kept process goes back to the pool now, still undoing its task (#isUnfitReused).
    this.#finish(null, null);
  }

  #finish(code: number | null, signalName: NodeJS.Signals | null): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timeoutTimer);
    const verdict = this.#verdict(code, signalName);
    // An output file that is not the result's (a stop, a failure, a lie about it) goes.
    this.#spool.release(verdict.outputFile !== undefined);
    if (this.#hold?.keep === true) {
      // The kept process goes back to the pool (or is retired) without this task's listeners.
      this.#unlistenSignal?.();
      for (const timer of this.#timers) clearTimeout(timer);
      this.#hold.handOver(verdict.status === 'succeeded', this.#options.killGraceMs);
    }
    this.#resolve({ ...verdict, logs: this.#tail.lines(), logsTruncated: this.#tail.truncated });
  }

  #verdict(code: number | null, signalName: NodeJS.Signals | null): Verdict {
    return verdictOf({
      stopReason: this.#stopReason,
      result: this.#result,
      maxResultBytes: this.#options.maxResultBytes,
      spooled: () => this.#spool.output(),
      scrub: this.#options.scrub,
      crash: () =>
        crashError({
          spawnError: this.#spawnError,
          stderrTail: this.#output.stderrTail,
          code,
          signalName,
        }),
    });
  }
}
