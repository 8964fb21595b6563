/**
 * The parent side: starts the worker itself in task mode, hands it one task over IPC, and watches
 * it — timeout, cancel, shutdown, crash, output limits. Whatever the child does, this resolves
 * with an outcome; it never throws for the task's sake.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { coerceError } from '../platform/errors.ts';
import type { ResultError, ResultStatus, Task, TaskLogLine } from '../wire/protocol.ts';
import { type ChildMessage, ChildMessageSchema } from './child-messages.ts';
import { IPC_VERSION, type ParentMessage, type StopReason, TASK_CHILD_FLAG } from './ipc.ts';
import { LogTail } from './log-tail.ts';
import { killTaskTree } from './task-processes.ts';
import {
  type ChildCommand,
  type StartedChild,
  spawnTaskChild,
  type WarmChildren,
} from './warm-child.ts';

export type { ChildCommand };

export interface RunOptions {
  command: ChildCommand;
  timeoutMs: number;
  killGraceMs: number;
  maxResultBytes: number;
  /** Aborted with a StopReason ('cancel' | 'shutdown') to stop the task from outside. */
  signal: AbortSignal;
  /** Where a process started ahead of need is taken from; without it, the task starts its own. */
  warm?: WarmChildren;
  /**
   * The task may run in a process that ran others, and its process may run more after it
   * (TASKS_PER_PROCESS > 1, the task not `fresh`): on success the process goes back to `warm`.
   */
  reusable?: boolean;
  /** Environment of the child (secrets stripped by the caller). */
  env: NodeJS.ProcessEnv;
  scrub: (text: string) => string;
  onLog?: (line: TaskLogLine) => void;
  onProgress?: (progress: { percent?: number | undefined; message?: string | undefined }) => void;
}

export interface TaskOutcome {
  status: ResultStatus;
  /**
   * The task's output as the JSON text its process made (`null` when there is none). Carried as
   * text to the result body, the outbox and the POST: the worker never parses it.
   */
  outputJson: string;
  error: ResultError | null;
  logs: TaskLogLine[];
  logsTruncated: boolean;
}

const STOPPED: Record<StopReason, { status: ResultStatus; error: ResultError }> = {
  timeout: {
    status: 'timed_out',
    error: { code: 'TIMEOUT', message: 'the task ran past its timeout and was stopped' },
  },
  cancel: {
    status: 'cancelled',
    error: { code: 'CANCELLED', message: 'the server cancelled the task' },
  },
  shutdown: {
    status: 'cancelled',
    error: { code: 'SHUTDOWN', message: 'the worker shut down while the task ran' },
  },
};

/**
 * V8 flags every task process gets. A 4 MB semi-space caps the young generation at a quarter of
 * V8's default: a task that builds a large result (prom_pars on a 20 MB exposition) would
 * otherwise grow it to ≈ 50 MB of resident memory that nothing uses again, and the smaller one
 * costs no measurable time (bench/prom-parse.ts runs both parsers with these flags). Starting at
 * that size rather than V8's 1 MB spares the process's start-up the scavenges of growing there
 * (≈ 4 ms of a task process's start, docs/performance.md).
 */
export const TASK_V8_FLAGS: readonly string[] = [
  '--max-semi-space-size=4',
  '--min-semi-space-size=4',
];

/**
 * Source mode: node + its flags + the entry file; a single executable: itself. The executable is
 * built with `execArgvExtension: "cli"`, so `--node-options=…` on its command line is Node's (and
 * NODE_OPTIONS in the environment is ignored): that is how a task process gets its V8 flags.
 */
export function selfCommand(isExecutable: boolean, maxHeapMb: number): ChildCommand {
  const v8 = [...TASK_V8_FLAGS, ...(maxHeapMb > 0 ? [`--max-old-space-size=${maxHeapMb}`] : [])];
  if (isExecutable) {
    return { file: process.execPath, args: [`--node-options=${v8.join(' ')}`, TASK_CHILD_FLAG] };
  }
  const entry = process.argv[1];
  if (entry === undefined)
    throw new Error('cannot tell the entry file to start task processes from');
  return { file: process.execPath, args: [...process.execArgv, ...v8, entry, TASK_CHILD_FLAG] };
}

export function runInChild(task: Task, options: RunOptions): Promise<TaskOutcome> {
  return new Promise((resolve) => new TaskProcess(task, options, resolve).start());
}

class TaskProcess {
  readonly #task: Task;
  readonly #options: RunOptions;
  readonly #resolve: (outcome: TaskOutcome) => void;
  readonly #tail: LogTail;
  readonly #stderrTail: string[] = [];
  #child: ChildProcess | undefined;
  #started: StartedChild | undefined;
  /** The process runs another task after this one (it stays up after the result). */
  #keep = false;
  #runSent = false;
  /** Undoes every listener this watcher put on the process and the signal (a kept process). */
  readonly #detach: (() => void)[] = [];
  #result: Extract<ChildMessage, { type: 'result' }> | undefined;
  #stopReason: StopReason | undefined;
  #spawnError: Error | undefined;
  #timers: NodeJS.Timeout[] = [];
  #finished = false;
  /** The result is in and the output read to its end (#settleThenFinish). */
  #settled = false;
  #timeoutTimer: NodeJS.Timeout | undefined;
  /** Output chunks read so far: the result waits until they stop coming (#settleThenFinish). */
  #outputChunks = 0;

  constructor(task: Task, options: RunOptions, resolve: (outcome: TaskOutcome) => void) {
    this.#task = task;
    this.#options = options;
    this.#resolve = resolve;
    this.#tail = new LogTail(options.scrub);
  }

  start(): void {
    const { command, env, signal, warm, reusable = false } = this.#options;
    const started = warm?.take(command, env, reusable) ?? spawnTaskChild(command, env);
    this.#keep = reusable && warm?.mayReuse(started) === true;
    this.#started = started;
    const { child } = started;
    this.#child = child;
    this.#spawnError = started.error;
    this.#listen(child, 'error', (error: Error) => {
      this.#spawnError = error;
    });
    this.#listen(child, 'message', (raw: unknown) => this.#onMessage(raw));
    if (started.ready) this.#sendRun();
    this.#listen(child, 'close', (code: number | null, signalName: NodeJS.Signals | null) => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.#finish(code, signalName);
    });
    this.#readLines(child.stdout, 'info');
    this.#readLines(child.stderr, 'error');
    this.#timeoutTimer = setTimeout(() => this.#stop('timeout'), this.#options.timeoutMs);
    const onAbort = () => this.#stop(signal.reason === 'shutdown' ? 'shutdown' : 'cancel');
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      this.#detach.push(() => signal.removeEventListener('abort', onAbort));
    }
  }

  #listen<Args extends unknown[]>(
    emitter: NodeJS.EventEmitter,
    event: string,
    listener: (...args: Args) => void,
  ): void {
    emitter.on(event, listener);
    this.#detach.push(() => emitter.off(event, listener));
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
        // A kept process says `ready` again after its task: that one is the pool's (warm-child.ts).
        if (!this.#runSent) this.#sendRun();
        else if (this.#settled) this.#finish(null, null);
        break;
      case 'log': {
        const line = this.#tail.push(message.level, message.msg, message.at);
        this.#options.onLog?.(line);
        break;
      }
      case 'progress':
        this.#options.onProgress?.({ percent: message.percent, message: message.message });
        break;
      case 'result':
        if (this.#result === undefined && this.#stopReason === undefined) {
          this.#result = message;
          void this.#settleThenFinish();
        }
        // The child exits by itself once the result is sent; one that lingers is killed. A kept
        // one says `ready` (then #finish hands it back, clearing this timer), or is retired at
        // once if the task was stopped.
        if (this.#keep && this.#stopReason !== undefined) this.#kill();
        else this.#timers.push(setTimeout(() => this.#kill(), this.#options.killGraceMs));
        break;
    }
  }

  #sendRun(): void {
    const { id, type, payload, attempt } = this.#task;
    this.#runSent = true;
    if (this.#started !== undefined) this.#started.ready = false;
    this.#send({
      v: IPC_VERSION,
      type: 'run',
      task: { id, type, payload, attempt },
      maxResultBytes: this.#options.maxResultBytes,
      ...(this.#keep ? { reuse: true } : {}),
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
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null)
      killTaskTree(child);
  }

  #send(message: ParentMessage): void {
    const child = this.#child;
    if (child?.connected !== true) return;
    child.send(message, (error) => {
      if (error !== null)
        this.#tail.push('warn', `could not reach the task process: ${error.message}`);
    });
  }

  #readLines(stream: Readable | null, level: 'info' | 'error'): void {
    if (stream === null) return;
    let pending = '';
    stream.setEncoding('utf8');
    this.#listen(stream, 'data', (chunk: string) => {
      this.#outputChunks++;
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      // A flood without newlines must not grow memory: an overlong partial line is cut.
      if (pending.length > 64 * 1024) pending = pending.slice(0, 4096);
      for (const line of lines) this.#onOutputLine(line, level);
    });
    this.#listen(stream, 'end', () => {
      if (pending !== '') this.#onOutputLine(pending, level);
    });
  }

  #onOutputLine(line: string, level: 'info' | 'error'): void {
    const text = line.replace(/\r$/, '');
    if (text === '') return;
    this.#tail.push(level, text);
    if (level === 'error') {
      this.#stderrTail.push(text);
      if (this.#stderrTail.length > 20) this.#stderrTail.shift();
    }
  }

  /**
   * The child flushed its stdout/stderr before sending the result, so what is left of its output is
   * already in the pipes: read until a turn of the event loop brings no more, then finish without
   * waiting for the process to exit (≈ 5 ms more). The exit still comes, or the kill timer.
   */
  async #settleThenFinish(): Promise<void> {
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    let seen: number;
    do {
      seen = this.#outputChunks;
      await turn();
      await turn();
    } while (seen !== this.#outputChunks && !this.#finished);
    // A kept process goes back once it has undone its task and said `ready` (a fraction of a ms
    // more), so the next task finds it waiting rather than still cleaning up.
    this.#settled = true;
    if (!this.#awaitsReady()) this.#finish(null, null);
  }

  #awaitsReady(): boolean {
    return this.#keep && this.#result?.status === 'succeeded' && this.#started?.ready === false;
  }

  #finish(code: number | null, signalName: NodeJS.Signals | null): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timeoutTimer);
    const verdict = this.#verdict(code, signalName);
    if (this.#keep) this.#handOver(verdict.status === 'succeeded');
    this.#resolve({ ...verdict, logs: this.#tail.lines(), logsTruncated: this.#tail.truncated });
  }

  /**
   * A kept process after its task: back to the pool when the task succeeded, else retired (any
   * failure, timeout, cancel or crash may have left it in a state no cleanup undoes). Either way
   * this watcher lets go of it, so nothing of this task reaches the next one.
   */
  #handOver(succeeded: boolean): void {
    for (const undo of this.#detach) undo();
    for (const timer of this.#timers) clearTimeout(timer);
    const { warm, command, env } = this.#options;
    const started = this.#started;
    if (started === undefined) return;
    // Nobody reads its output until the next task: the pipes must not fill up.
    started.child.stdout?.resume();
    started.child.stderr?.resume();
    if (succeeded && warm !== undefined) warm.giveBack(started, command, env);
    else this.#kill();
  }

  /** A stop we asked for wins over what the child reported after it; no result at all is a crash. */
  #verdict(
    code: number | null,
    signalName: NodeJS.Signals | null,
  ): Pick<TaskOutcome, 'status' | 'outputJson' | 'error'> {
    if (this.#stopReason !== undefined) return { ...STOPPED[this.#stopReason], outputJson: 'null' };
    const result = this.#result;
    if (result?.status === 'succeeded') {
      // The child checked the size before sending; a process that did not (a task writing to the
      // IPC channel itself) is held to MAX_RESULT_BYTES here, without parsing a byte of it.
      const bytes = Buffer.byteLength(result.outputJson);
      if (bytes > this.#options.maxResultBytes) {
        const message = `the task's output is ${bytes} bytes of JSON, over MAX_RESULT_BYTES (${this.#options.maxResultBytes})`;
        return { status: 'failed', outputJson: 'null', error: { code: 'TASK_ERROR', message } };
      }
      return { status: 'succeeded', outputJson: result.outputJson, error: null };
    }
    if (result !== undefined) {
      return {
        status: result.status,
        outputJson: 'null',
        error: { ...result.error, message: this.#options.scrub(result.error.message) },
      };
    }
    return { status: 'failed', outputJson: 'null', error: this.#crashError(code, signalName) };
  }

  #crashError(code: number | null, signalName: NodeJS.Signals | null): ResultError {
    if (this.#spawnError !== undefined) {
      return {
        code: 'CRASHED',
        message: `the task process could not start: ${coerceError(this.#spawnError).message}`,
      };
    }
    const stderr = this.#stderrTail.join('\n');
    const outOfMemory = /heap out of memory|Allocation failed|OOM/i.test(stderr);
    const how = signalName === null ? `exited with code ${code}` : `was killed by ${signalName}`;
    const message = outOfMemory
      ? `the task process ran out of memory (${how})`
      : `the task process ${how} before reporting a result`;
    return {
      code: 'CRASHED',
      message,
      details: { exitCode: code, signal: signalName, stderr: this.#stderrTail.slice(-5) },
    };
  }
}
