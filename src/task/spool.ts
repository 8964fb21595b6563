/**
 * Big outputs on their way out of a task process: written by it to a file the worker names (in
 * the outbox's spool/), checked by the worker without reading it, then copied to the outbox file
 * a buffer at a time (src/results/outbox.ts). The worker never holds such an output whole.
 */
import { randomUUID } from 'node:crypto';
import { lstatSync, rm } from 'node:fs';
import { join } from 'node:path';
import type { SpooledOutput } from '../wire/protocol.ts';

/**
 * An output of more JSON than this is spooled; a smaller one comes over IPC (one copy in the
 * worker, sent while its outbox copy is written: the fast path). docs/performance.md has why.
 */
export const SPOOL_OVER_BYTES = 256 * 1024;

/** A new spool file's name for one task's output. */
export function spoolFileIn(spoolDir: string): string {
  return join(spoolDir, `${randomUUID()}.json`);
}

/**
 * The spool file as it is now: its size is what counts, whatever the task process said (a link
 * or a folder there is no output).
 */
export function inspectSpool(file: string): SpooledOutput | undefined {
  try {
    const stats = lstatSync(file);
    return stats.isFile() ? { file, bytes: stats.size } : undefined;
  } catch {
    return undefined;
  }
}

/** A spool file nothing will copy (a stop, a failure, a lie): removed on the threadpool. */
export function discardSpool(file: string): void {
  rm(file, { force: true }, () => {});
}
