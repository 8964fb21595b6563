/**
 * Results on disk until the server has them, and the once-per-task store: storage only (what a
 * result goes through, and when, is src/results/delivery.ts's).
 *
 * outbox/<resultId>.json   unsent results; removed when the server answered 2xx or 409
 * done/<task key>.json     every result produced, by task id, kept RESULT_RETENTION (once per task)
 * rejected/<resultId>.json results the server refused, with its answer: kept, never deleted silently
 * corrupt/                 unreadable files (a power cut mid-write), moved aside for a person to look at
 * spool/                   big outputs written by task processes, until copied into outbox/
 *
 * Every write is atomic (src/platform/fs-atomic.ts), so a file is whole or absent whatever kills
 * the process. A file's layout is ./entry-file.ts's.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { coerceError } from '../platform/errors.ts';
import { writeFileAtomic, writeFileAtomicAsync } from '../platform/fs-atomic.ts';
import type { Logger } from '../platform/log.ts';
import type { EncodedResult } from '../wire/protocol.ts';
import {
  entryPieces,
  fileName,
  newEntryFile,
  type OutboxEntry,
  readEntryFile,
  taskKey,
} from './entry-file.ts';

export type { OutboxEntry };

/** A new result (Outbox.keep): `written` settles when its outbox file is whole on disk, or failed. */
export interface NewEntry {
  entry: OutboxEntry;
  written: Promise<void>;
}

const PRUNE_EVERY_MS = 3_600_000;
const ALREADY = Promise.resolve(true);

export interface OutboxOptions {
  dataDir: string;
  maxEntries: number;
  retentionMs: number;
  log: Logger;
  now?: () => number;
}

export class Outbox {
  readonly #dirs: {
    outbox: string;
    done: string;
    rejected: string;
    corrupt: string;
    spool: string;
  };
  readonly #options: OutboxOptions;
  readonly #pending = new Map<string, OutboxEntry>();
  /** New results whose file is being composed (a spooled output), by task id: not yet pending. */
  readonly #composing = new Map<string, OutboxEntry>();
  /** Answered results whose file is still being written or read (markDelivered), by task id. */
  readonly #leaving = new Map<string, OutboxEntry>();
  #prunedAtMs = 0;

  constructor(options: OutboxOptions) {
    this.#options = options;
    const root = options.dataDir;
    this.#dirs = {
      outbox: join(root, 'outbox'),
      done: join(root, 'done'),
      rejected: join(root, 'rejected'),
      corrupt: join(root, 'corrupt'),
      spool: join(root, 'spool'),
    };
  }

  /** Where task processes write big outputs (task/parent.ts names each file). */
  get spoolDir(): string {
    return this.#dirs.spool;
  }

  /** Creates the folders, loads what is unsent, and prunes expired once-per-task entries. */
  open(): this {
    for (const dir of Object.values(this.#dirs)) mkdirSync(dir, { recursive: true });
    // A spooled output whose result was never composed: its task is handed out again.
    for (const name of readdirSync(this.#dirs.spool))
      rmSync(join(this.#dirs.spool, name), { force: true });
    for (const name of readdirSync(this.#dirs.outbox)) {
      if (name.endsWith('.tmp')) {
        rmSync(join(this.#dirs.outbox, name), { force: true }); // a write that never finished
        continue;
      }
      const entry = this.#readEntry(join(this.#dirs.outbox, name));
      if (entry !== undefined) this.#pending.set(entry.body.resultId, entry);
    }
    this.pruneDone();
    return this;
  }

  get size(): number {
    return this.#pending.size;
  }

  isFull(): boolean {
    return this.#pending.size >= this.#options.maxEntries;
  }

  /** Unsent results, oldest first. */
  pending(): OutboxEntry[] {
    // ISO 8601 times sort as plain strings (localeCompare would load ICU's collation for nothing).
    return [...this.#pending.values()].sort((a, b) =>
      a.storedAt < b.storedAt ? -1 : a.storedAt > b.storedAt ? 1 : 0,
    );
  }

  /**
   * Writes a new result's outbox file (on the threadpool). A body in memory is pending at once
   * (it can be sent while it is written); one with a spooled output once its file is composed —
   * its body is then read from that file — and its spooled output is removed.
   */
  keep(taskId: string, body: EncodedResult): NewEntry {
    const storedAt = new Date(this.#now()).toISOString();
    const file = join(this.#dirs.outbox, fileName(body.resultId));
    const { entry, pieces } = newEntryFile(taskId, storedAt, body, file);
    let written = writeFileAtomicAsync(file, pieces);
    if ('json' in body) this.#pending.set(body.resultId, entry);
    else {
      this.#composing.set(taskId, entry);
      const spooled = body.output.file;
      written = written
        .then(() => {
          this.#pending.set(body.resultId, entry);
        })
        .finally(() => {
          this.#composing.delete(taskId);
          rmSync(spooled, { force: true });
        });
    }
    // A worker that runs for months prunes as it goes, at most hourly.
    if (this.#now() - this.#prunedAtMs > PRUNE_EVERY_MS) this.pruneDone();
    return { entry, written };
  }

  /**
   * The once-per-task store, written after the result's send has gone out, from its outbox file
   * or memory; never fails (a warning). Not fsynced: the outbox copy is the durable one, and
   * losing this one (a power cut, a full disk) costs at most a re-run of the task.
   */
  async keepDone(entry: OutboxEntry): Promise<void> {
    try {
      await writeFileAtomicAsync(join(this.#dirs.done, taskKey(entry.taskId)), entryPieces(entry), {
        durable: false,
      });
    } catch (error) {
      this.#options.log.warn(
        `cannot keep the result of task ${entry.taskId} for re-deliveries (${coerceError(error).message}); if the server sends it again, it runs again`,
      );
    }
  }

  /** The result this worker already produced for a task, if within retention. */
  storedResult(taskId: string): OutboxEntry | undefined {
    const queued =
      [...this.#pending.values()].find((entry) => entry.taskId === taskId) ??
      this.#composing.get(taskId) ??
      this.#leaving.get(taskId);
    if (queued !== undefined) return queued;
    const entry = this.#readEntry(join(this.#dirs.done, taskKey(taskId)), { missingIsFine: true });
    if (entry === undefined || entry.taskId !== taskId) return undefined;
    return this.#isExpired(entry) ? undefined : entry;
  }

  /**
   * Puts a stored result back in the outbox (a re-delivered task): the SAME body and resultId.
   * A result still pending, being composed or leaving is already on its way or answered: returned
   * as it is (a second write now would share the first one's temp file).
   */
  requeue(entry: OutboxEntry): OutboxEntry {
    const { resultId } = entry.body;
    const kept =
      this.#pending.get(resultId) ??
      this.#composing.get(entry.taskId) ??
      this.#leaving.get(entry.taskId);
    if (kept !== undefined) return kept;
    const again = this.#inOutbox(entry);
    this.#pending.set(resultId, again);
    return again;
  }

  /**
   * The server has it (2xx or 409): no longer pending at once; its file goes once `fileWhole`
   * (from delivery: the file's writes and reads are over) says it is there. Removed earlier, a
   * late rename would put a delivered result back in the outbox (sent again at the next start).
   */
  async markDelivered(resultId: string, fileWhole: Promise<boolean> = ALREADY): Promise<void> {
    const entry = this.#pending.get(resultId);
    this.#pending.delete(resultId);
    if (entry !== undefined) this.#leaving.set(entry.taskId, entry);
    try {
      if (await fileWhole) rmSync(join(this.#dirs.outbox, fileName(resultId)), { force: true });
    } finally {
      if (entry !== undefined && this.#leaving.get(entry.taskId) === entry) {
        this.#leaving.delete(entry.taskId);
      }
    }
  }

  /** The server refused it: kept in rejected/ with the server's answer. */
  async markRejected(
    resultId: string,
    answer: { status: number; text: string },
    fileWhole: Promise<boolean> = ALREADY,
  ): Promise<string> {
    const entry = this.#pending.get(resultId);
    const target = join(this.#dirs.rejected, fileName(resultId));
    const rejectedAt = new Date(this.#now()).toISOString();
    // A body kept only in its file is read from there: once the file is whole.
    const whole = await fileWhole;
    if (entry !== undefined && (whole || 'json' in entry.body)) {
      await writeFileAtomicAsync(target, entryPieces(entry, { rejectedAt, answer }));
    }
    await this.markDelivered(resultId, Promise.resolve(whole));
    return target;
  }

  /**
   * `worker --requeue-rejected`: every refused result back in the outbox, same body and resultId,
   * for the next start to send (a refusal may have been the server's mistake). Each is written to
   * outbox/ before its rejected/ copy goes, so a crash between leaves two copies of one resultId,
   * never none (the server stores a resultId once). Files that are not a result stay where they are.
   */
  requeueRejected(): { requeued: number; unreadable: string[] } {
    let requeued = 0;
    const unreadable: string[] = [];
    for (const name of readdirSync(this.#dirs.rejected)) {
      if (!name.endsWith('.json')) continue;
      const file = join(this.#dirs.rejected, name);
      let entry: OutboxEntry;
      try {
        // What markRejected wrote: the entry plus rejectedAt and the answer (dropped here).
        entry = readEntryFile(file);
      } catch {
        unreadable.push(file);
        continue;
      }
      this.#pending.set(entry.body.resultId, this.#inOutbox(entry));
      rmSync(file, { force: true });
      requeued += 1;
    }
    return { requeued, unreadable };
  }

  /** Drops once-per-task entries older than the retention. */
  pruneDone(): number {
    this.#prunedAtMs = this.#now();
    let pruned = 0;
    for (const name of readdirSync(this.#dirs.done)) {
      const file = join(this.#dirs.done, name);
      try {
        if (this.#now() - statSync(file).mtimeMs > this.#options.retentionMs) {
          rmSync(file, { force: true });
          pruned += 1;
        }
      } catch {
        // Gone meanwhile: nothing to prune.
      }
    }
    return pruned;
  }

  /** Writes `entry` to its outbox file; the entry as kept there (a body in a file is read from it). */
  #inOutbox(entry: OutboxEntry): OutboxEntry {
    const file = join(this.#dirs.outbox, fileName(entry.body.resultId));
    writeFileAtomic(file, entryPieces(entry));
    const { body } = entry;
    return 'json' in body ? entry : { ...entry, body: { ...body, file } };
  }

  #isExpired(entry: OutboxEntry): boolean {
    return this.#now() - Date.parse(entry.storedAt) > this.#options.retentionMs;
  }

  #readEntry(file: string, { missingIsFine = false } = {}): OutboxEntry | undefined {
    try {
      return readEntryFile(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (missingIsFine && code === 'ENOENT') return undefined;
      if (code !== undefined) throw error; // a file system error, not a corrupt file
      const aside = join(this.#dirs.corrupt, `${Date.now()}-${file.split(/[\\/]/).pop()}`);
      renameSync(file, aside);
      this.#options.log.error(
        { file, movedTo: aside },
        `unreadable result file ${file} moved aside to ${aside} (${coerceError(error).message.split('\n')[0]})`,
      );
      return undefined;
    }
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}
