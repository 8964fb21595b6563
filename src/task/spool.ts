/**
 * Big outputs and payloads through files in the outbox's spool/ instead of IPC: a task process
 * writes its big output to a file the worker names, which the worker copies to the outbox a buffer
 * at a time (src/results/outbox.ts), never holding it whole; a big payload goes the other way.
 */
import { randomUUID } from 'node:crypto';
import { lstatSync, unlinkSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpooledOutput, Task } from '../wire/protocol.ts';

/**
 * An output (or payload) of more JSON than this is spooled; a smaller one comes over IPC, the fast
 * path. Kept under the C allocator's threshold for big allocations, which a freed big buffer would
 * raise for good (docs/performance.md).
 */
export const SPOOL_OVER_BYTES = 64 * 1024;

/** A new spool file's name for one task's output. */
export function spoolFileIn(spoolDir: string): string {
  return join(spoolDir, `${randomUUID()}.json`);
}

/** The spool file as it is now: its size counts, whatever the process said; a link is none. */
export function inspectSpool(file: string): SpooledOutput | undefined {
  try {
    const stats = lstatSync(file);
    return stats.isFile() ? { file, bytes: stats.size } : undefined;
  } catch {
    return undefined;
  }
}

/** A spool file nothing will copy (a stop, a failure, a lie), or none was made: removed. */
export function discardSpool(file: string): void {
  // Usually never made: a look first (a link counts), as a failed unlink costs an exception (a
  // stack captured) for every task. On this thread: one lstat, no walk or retries as rm's.
  if (lstatSync(file, { throwIfNoEntry: false }) === undefined) return;
  try {
    unlinkSync(file);
  } catch {
    // gone meanwhile: nothing to do
  }
}

/** How a task's payload reaches its process: parsed (a test's task), as text, or in a file. */
export type PayloadForChild =
  | { payload: unknown }
  | { payload: null; payloadJson: string }
  | { payload: null; payloadFile: string };

/**
 * The task's payload as its process gets it: a spool file when big (as text if that write fails),
 * else text. The bytes it arrived in are let go of here: the task object lives on while it runs.
 */
export function handOverPayload(
  task: Task,
  spoolDir: string | undefined,
): { ready: Promise<PayloadForChild>; file?: string } {
  const pieces = task.payloadJson;
  if (pieces === undefined) return { ready: Promise.resolve({ payload: task.payload }) };
  task.payloadJson = undefined;
  const asText = (): PayloadForChild => ({
    payload: null,
    payloadJson: Buffer.concat(pieces).toString('utf8'),
  });
  const bytes = pieces.reduce((sum, piece) => sum + piece.byteLength, 0);
  if (spoolDir === undefined || bytes <= SPOOL_OVER_BYTES) {
    return { ready: Promise.resolve(asText()) };
  }
  const file = join(spoolDir, `${randomUUID()}.payload.json`);
  // Written piece by piece, as they arrived: never joined into one buffer.
  const ready = writeFile(file, pieces, { mode: 0o600 }).then(
    (): PayloadForChild => ({ payload: null, payloadFile: file }),
    asText,
  );
  return { ready, file };
}

/** One task's spool files (big output, big payload); `release` removes what nothing reads again. */
export class TaskSpool {
  readonly #dir: string | undefined;
  #outputFile: string | undefined;
  #payloadFile: string | undefined;

  /** `dir` undefined: every payload and output goes over IPC. */
  constructor(dir: string | undefined) {
    this.#dir = dir;
  }

  /** The `run` message's payload (text or file) and, with a spool folder, a big output's file. */
  async runFields(task: Task): Promise<{
    payload: PayloadForChild;
    spool?: { file: string; overBytes: number };
  }> {
    if (this.#dir !== undefined) this.#outputFile = spoolFileIn(this.#dir);
    const handed = handOverPayload(task, this.#dir);
    this.#payloadFile = handed.file;
    const payload = await handed.ready;
    return this.#outputFile === undefined
      ? { payload }
      : { payload, spool: { file: this.#outputFile, overBytes: SPOOL_OVER_BYTES } };
  }

  /** The output file as it is now, if the process was given one. */
  output(): SpooledOutput | undefined {
    return this.#outputFile === undefined ? undefined : inspectSpool(this.#outputFile);
  }

  /** The task is over: the payload file goes, and the output file unless it is the result's. */
  release(outputIsResult: boolean): void {
    if (this.#outputFile !== undefined && !outputIsResult) discardSpool(this.#outputFile);
    if (this.#payloadFile !== undefined) discardSpool(this.#payloadFile);
  }
}
