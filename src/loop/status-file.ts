/**
 * `<data>/status.json`: what the running worker is doing, for `worker --status` in another
 * process. Written whole or absent, only when something changes (never on a quiet poll); a write
 * that fails is logged once and never breaks the loop.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { coerceError } from '../platform/errors.ts';
import { writeFileAtomic } from '../platform/fs-atomic.ts';
import type { Logger } from '../platform/log.ts';
import type { ResultStatus, Task } from '../wire/protocol.ts';

export const STATUS_FILE = 'status.json';

/** How long a change waits before status.json is rewritten (several changes make one write). */
const STATUS_WRITE_DELAY_MS = 100;

const CurrentTaskSchema = z.object({
  id: z.string(),
  type: z.string(),
  attempt: z.number(),
  startedAt: z.string(),
});
const LastResultSchema = z.object({ taskId: z.string(), status: z.string(), at: z.string() });
const LastErrorSchema = z.object({ message: z.string(), at: z.string() });

export const RecordedStatusSchema = z.object({
  /** The worker that wrote it: a current task is only current while this pid holds the lock. */
  pid: z.number(),
  updatedAt: z.string(),
  /** The tasks running now (several with CONCURRENCY > 1), oldest first. */
  currentTasks: z.array(CurrentTaskSchema),
  lastResult: LastResultSchema.nullable(),
  lastError: LastErrorSchema.nullable(),
});
export type RecordedStatus = z.infer<typeof RecordedStatusSchema>;

/** The last status written, or undefined when there is none (or it is unreadable). */
export function readRecordedStatus(dataDir: string): RecordedStatus | undefined {
  try {
    const text = readFileSync(join(dataDir, STATUS_FILE), 'utf8');
    return RecordedStatusSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

export class StatusRecorder {
  readonly #file: string;
  readonly #log: Logger;
  readonly #scrub: (text: string) => string;
  #status: RecordedStatus;
  #failureLogged = false;
  #writeTimer: NodeJS.Timeout | undefined;

  /** `scrub` takes secrets out of error messages, as the logger does (the file is not a log). */
  constructor(dataDir: string, log: Logger, scrub: (text: string) => string) {
    this.#file = join(dataDir, STATUS_FILE);
    this.#log = log;
    this.#scrub = scrub;
    // Keeps the last result and error of the previous run: still the last ones until new ones come.
    const previous = readRecordedStatus(dataDir);
    this.#status = {
      pid: process.pid,
      updatedAt: new Date().toISOString(),
      currentTasks: [],
      lastResult: previous?.lastResult ?? null,
      lastError: previous?.lastError ?? null,
    };
    this.#write();
  }

  taskStarted(task: Task, startedAt: Date): void {
    const current = {
      id: task.id,
      type: task.type,
      attempt: task.attempt,
      startedAt: startedAt.toISOString(),
    };
    this.#update({ currentTasks: [...this.#status.currentTasks, current] });
  }

  taskFinished(taskId: string, status: ResultStatus, finishedAt: Date): void {
    this.#update({
      currentTasks: this.#status.currentTasks.filter((task) => task.id !== taskId),
      lastResult: { taskId, status, at: finishedAt.toISOString() },
    });
  }

  /** A claim that failed (network, HTTP, refused token, throttled): the last error a person sees. */
  claimFailed(message: string): void {
    this.#update({ lastError: { message: this.#scrub(message), at: new Date().toISOString() } });
  }

  /**
   * Written a moment later, not now: a write between a task's end and its result's POST would
   * delay every result, and short tasks would rewrite it each. `flush()` writes it at exit.
   */
  #update(change: Partial<RecordedStatus>): void {
    this.#status = { ...this.#status, ...change, updatedAt: new Date().toISOString() };
    if (this.#writeTimer !== undefined) return;
    this.#writeTimer = setTimeout(() => this.flush(), STATUS_WRITE_DELAY_MS);
    this.#writeTimer.unref();
  }

  /** Writes a pending change now (at exit). */
  flush(): void {
    if (this.#writeTimer === undefined) return;
    clearTimeout(this.#writeTimer);
    this.#writeTimer = undefined;
    this.#write();
  }

  #write(): void {
    try {
      // Whole or absent, but not fsynced: it is a view for people, rewritten at every change.
      writeFileAtomic(this.#file, `${JSON.stringify(this.#status, null, 2)}\n`, {
        durable: false,
      });
      this.#failureLogged = false;
    } catch (error) {
      if (this.#failureLogged) return;
      this.#failureLogged = true;
      this.#log.warn(
        `cannot write ${this.#file} (worker --status will be out of date): ${coerceError(error).message}`,
      );
    }
  }
}
