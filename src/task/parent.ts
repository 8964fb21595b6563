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
import { type ChildCommand, spawnTaskChild, type WarmChildren } from './warm-child.ts';

export type { ChildCommand };

/**
 * A task that runs longer than this gets the next task's process started beside it; for a shorter
 * one the worker starts it once the result is delivered (Worker#runTask). Starting it at once
 * would make every short task share the machine's cores with a process start (≈ 60 ms of CPU),
 * and spawn() blocks the worker's thread for a few ms.
 */
export const SPARE_START_DELAY_MS = 20;

export interface RunOptions {
  command: ChildCommand;
  timeoutMs: number;
  killGraceMs: number;
  maxResultBytes: number;
  /** Aborted with a StopReason ('cancel' | 'shutdown') to stop the task from outside. */
  signal: AbortSignal;
  /** Task processes started ahead of need; without it, each task starts its own. */
  warm?: WarmChildren;
  /** Environment of the child (secrets stripped by the caller). */
  env: NodeJS.ProcessEnv;
  scrub: (text: string) => string;
  onLog?: (line: TaskLogLine) => void;
  onProgress?: (progress: { percent?: number | undefined; message?: string | undefined }) => void;
}

export interface TaskOutcome {
  status: ResultStatus;
  output: unknown;
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
  #result: Extract<ChildMessage, { type: 'result' }> | undefined;
  #stopReason: StopReason | undefined;
  #spawnError: Error | undefined;
  #timers: NodeJS.Timeout[] = [];
  #finished = false;
  #timeoutTimer: NodeJS.Timeout | undefined;
  /** Output chunks read so far: the result waits until they stop coming (#settleThenFinish). */
  #outputChunks = 0;
  #cancelSpare: () => void = () => {};

  constructor(task: Task, options: RunOptions, resolve: (outcome: TaskOutcome) => void) {
    this.#task = task;
    this.#options = options;
    this.#resolve = resolve;
    this.#tail = new LogTail(options.scrub);
  }

  start(): void {
    const { command, env, signal, warm } = this.#options;
    const started = warm?.take(command, env) ?? spawnTaskChild(command, env);
    if (warm !== undefined) {
      // The next task's process starts while this one runs, if it runs long enough.
      const spareTimer = setTimeout(() => warm.prepare(command, env), SPARE_START_DELAY_MS);
      this.#cancelSpare = () => clearTimeout(spareTimer);
    }
    const { child } = started;
    this.#child = child;
    this.#spawnError = started.error;
    child.on('error', (error) => {
      this.#spawnError = error;
    });
    child.on('message', (raw) => this.#onMessage(raw));
    if (started.ready) this.#sendRun();
    child.on('close', (code, signalName) => {
      for (const timer of this.#timers) clearTimeout(timer);
      this.#finish(code, signalName);
    });
    this.#readLines(child.stdout, 'info');
    this.#readLines(child.stderr, 'error');
    this.#timeoutTimer = setTimeout(() => this.#stop('timeout'), this.#options.timeoutMs);
    const onAbort = () => this.#stop(signal.reason === 'shutdown' ? 'shutdown' : 'cancel');
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
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
        this.#sendRun();
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
          this.#cancelSpare();
          void this.#settleThenFinish();
        }
        // The child exits by itself once the result is sent; one that lingers is killed.
        this.#timers.push(setTimeout(() => this.#kill(), this.#options.killGraceMs));
        break;
    }
  }

  #sendRun(): void {
    const { id, type, payload, attempt } = this.#task;
    this.#send({
      v: IPC_VERSION,
      type: 'run',
      task: { id, type, payload, attempt },
      maxResultBytes: this.#options.maxResultBytes,
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
    stream.on('data', (chunk: string) => {
      this.#outputChunks++;
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      // A flood without newlines must not grow memory: an overlong partial line is cut.
      if (pending.length > 64 * 1024) pending = pending.slice(0, 4096);
      for (const line of lines) this.#onOutputLine(line, level);
    });
    stream.on('end', () => {
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
    this.#finish(null, null);
  }

  #finish(code: number | null, signalName: NodeJS.Signals | null): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timeoutTimer);
    this.#cancelSpare();
    this.#resolve({
      ...this.#verdict(code, signalName),
      logs: this.#tail.lines(),
      logsTruncated: this.#tail.truncated,
    });
  }

  /** A stop we asked for wins over what the child reported after it; no result at all is a crash. */
  #verdict(
    code: number | null,
    signalName: NodeJS.Signals | null,
  ): Pick<TaskOutcome, 'status' | 'output' | 'error'> {
    if (this.#stopReason !== undefined) return { ...STOPPED[this.#stopReason], output: null };
    const result = this.#result;
    if (result?.status === 'succeeded')
      return { status: 'succeeded', output: JSON.parse(result.outputJson), error: null };
    if (result !== undefined) {
      return {
        status: result.status,
        output: null,
        error: { ...result.error, message: this.#options.scrub(result.error.message) },
      };
    }
    return { status: 'failed', output: null, error: this.#crashError(code, signalName) };
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
