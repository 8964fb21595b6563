/**
 * Results on disk until the server has them, and the once-per-task store: storage only. What a
 * result goes through, and when, is ./ledger.ts's (its states) and ./delivery.ts's (its sends).
 *
 * outbox/<resultId>.json   unsent results; removed when the server answered 2xx or 409 (one
 *                          answered before it was written never gets one: ./ledger.ts)
 * done/<task key>.json     every result produced, by task id, kept RESULT_RETENTION (once per task)
 * rejected/<resultId>.json results the server refused, with its answer: kept, never deleted silently
 * corrupt/                 unreadable files (a torn write), moved aside for a person to look at
 * spool/                   big outputs written by task processes, until copied into outbox/
 *
 * Every write is atomic (src/platform/fs-atomic.ts), so a file is whole or absent whatever kills
 * the process. New results' files share their folder's fsync (./group-commit.ts); a result the
 * server has before it is written (./ledger.ts) goes straight to done/, which is never fsynced: a
 * power cut may leave such a copy empty, and it is removed. A file's layout is ./entry-file.ts's.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { coerceError } from '../platform/errors.ts';
import {
  FolderSync,
  type WriteOptions,
  writeFileAtomic,
  writeFileAtomicAsync,
} from '../platform/fs-atomic.ts';
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
import { GroupCommit } from './group-commit.ts';

export type { OutboxEntry };

/** Where a new result was kept: its outbox file (fsynced), or only done/'s copy (answered first). */
export type KeptIn = 'outbox' | 'done';

/** A new result (Outbox.write): `written` settles when its copy is whole on disk, or failed. */
export interface NewEntry {
  entry: OutboxEntry;
  written: Promise<KeptIn>;
}

const PRUNE_EVERY_MS = 3_600_000;

export interface OutboxOptions {
  dataDir: string;
  retentionMs: number;
  log: Logger;
  now?: () => number;
  /** Told of every fsync of a result file or folder (tests count them). */
  fsynced?: WriteOptions['fsynced'];
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
  /** outbox/'s fsync, one for the new results renamed into it together. */
  readonly #outboxSync: GroupCommit;
  /** outbox/ kept open for those fsyncs while results are written (`close` lets it go). */
  readonly #outboxFolder: FolderSync;
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
    this.#outboxFolder = new FolderSync(this.#dirs.outbox, options.fsynced);
    this.#outboxSync = new GroupCommit(() => this.#outboxFolder.sync());
  }

  /** Where task processes write big outputs (task/parent.ts names each file). */
  get spoolDir(): string {
    return this.#dirs.spool;
  }

  /** Creates the folders, clears what a crash left, and prunes expired once-per-task entries. */
  open(): this {
    for (const dir of Object.values(this.#dirs)) mkdirSync(dir, { recursive: true });
    // A spooled output whose result was never composed: its task is handed out again.
    for (const name of readdirSync(this.#dirs.spool))
      rmSync(join(this.#dirs.spool, name), { force: true });
    for (const name of readdirSync(this.#dirs.outbox)) {
      // A write that never finished.
      if (name.endsWith('.tmp')) rmSync(join(this.#dirs.outbox, name), { force: true });
    }
    this.pruneDone();
    return this;
  }

  /** Lets go of outbox/, held open for its fsyncs; a later write opens it again. */
  close(): void {
    this.#outboxFolder.close();
  }

  /** The results in outbox/ (unsent when the worker last stopped), unreadable ones moved aside. */
  unsent(): OutboxEntry[] {
    const entries: OutboxEntry[] = [];
    for (const name of readdirSync(this.#dirs.outbox)) {
      if (name.endsWith('.tmp')) continue;
      const entry = this.#readEntry(join(this.#dirs.outbox, name));
      if (entry !== undefined) entries.push(entry);
    }
    return entries;
  }

  /**
   * Keeps a new result: its outbox file (on the threadpool: its own temp file, fsync and rename,
   * then the folder's fsync, shared with the results renamed meanwhile, a group commit). A body
   * with a spooled output is composed there, and read from there from then on (`entry`); its
   * spooled output is removed. `stillNeeded`, asked first, may answer that the server has the
   * result already (src/results/ledger.ts): then only done/'s copy is written, not fsynced.
   */
  write(taskId: string, body: EncodedResult, stillNeeded?: () => Promise<boolean>): NewEntry {
    const storedAt = new Date(this.#now()).toISOString();
    const file = join(this.#dirs.outbox, fileName(body.resultId));
    const { entry, pieces } = newEntryFile(taskId, storedAt, body, file);
    const { fsynced } = this.#options;
    const inOutbox = async (): Promise<KeptIn> => {
      await writeFileAtomicAsync(file, pieces, { syncFolder: false, fsynced });
      await this.#outboxSync.join();
      return 'outbox';
    };
    let written: Promise<KeptIn>;
    if (stillNeeded === undefined) {
      written = inOutbox();
    } else {
      written = stillNeeded().then(async (needed) => {
        if (needed) return inOutbox();
        await this.keepDone(entry);
        return 'done';
      });
    }
    if (!('json' in body)) {
      const spooled = body.output.file;
      written = written.finally(() => rmSync(spooled, { force: true }));
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

  /** The result this worker produced for a task, from done/, if within retention. */
  doneResult(taskId: string): OutboxEntry | undefined {
    const file = join(this.#dirs.done, taskKey(taskId));
    // The usual answer (a task never done here) without an ENOENT error made and thrown.
    if (statSync(file, { throwIfNoEntry: false }) === undefined) return undefined;
    const entry = this.#readEntry(file, { missingIsFine: true });
    if (entry === undefined || entry.taskId !== taskId) return undefined;
    return this.#isExpired(entry) ? undefined : entry;
  }

  /** Writes a stored result to outbox/ again (a re-delivered task): the entry as kept there. */
  rewrite(entry: OutboxEntry): OutboxEntry {
    const file = join(this.#dirs.outbox, fileName(entry.body.resultId));
    writeFileAtomic(file, entryPieces(entry));
    const { body } = entry;
    return 'json' in body ? entry : { ...entry, body: { ...body, file } };
  }

  /** Removes a result's outbox file (the server has it, or its refusal is kept in rejected/). */
  async remove(resultId: string): Promise<void> {
    // One unlink on the threadpool (a file just fsynced can make the call wait for the journal).
    await unlink(join(this.#dirs.outbox, fileName(resultId))).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }

  /**
   * The server has the result: its outbox file becomes its done/ copy, in one rename (the same
   * bytes; not fsynced, as keepDone's are not). If the rename fails, keepDone copies it instead.
   */
  async retire(entry: OutboxEntry): Promise<void> {
    const from = join(this.#dirs.outbox, fileName(entry.body.resultId));
    try {
      await rename(from, join(this.#dirs.done, taskKey(entry.taskId)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      await this.keepDone(entry);
      await this.remove(entry.body.resultId);
    }
  }

  /** Keeps a refused result in rejected/ with the server's answer; returns that file's path. */
  async reject(entry: OutboxEntry, answer: { status: number; text: string }): Promise<string> {
    const target = join(this.#dirs.rejected, fileName(entry.body.resultId));
    const rejectedAt = new Date(this.#now()).toISOString();
    await writeFileAtomicAsync(target, entryPieces(entry, { rejectedAt, answer }));
    return target;
  }

  /** Where a refused result is (or would be) kept. */
  rejectedFile(resultId: string): string {
    return join(this.#dirs.rejected, fileName(resultId));
  }

  /**
   * `worker --requeue-rejected`: every refused result back in the outbox, same body and resultId,
   * for the next start to send (a refusal may have been the server's mistake). Each is written to
   * outbox/ before its rejected/ copy goes, so a crash between leaves two copies of one resultId,
   * never none (the server stores a resultId once). Files that are not a result stay where they are.
   */
  requeueRejected(): { requeued: OutboxEntry[]; unreadable: string[] } {
    const requeued: OutboxEntry[] = [];
    const unreadable: string[] = [];
    for (const name of readdirSync(this.#dirs.rejected)) {
      if (!name.endsWith('.json')) continue;
      const file = join(this.#dirs.rejected, name);
      let entry: OutboxEntry;
      try {
        // What reject() wrote: the entry plus rejectedAt and the answer (dropped here).
        entry = readEntryFile(file);
      } catch {
        unreadable.push(file);
        continue;
      }
      requeued.push(this.rewrite(entry));
      rmSync(file, { force: true });
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
      if (neverReachedTheDisk(file)) {
        // Only a copy never fsynced can be left so by a power cut (done/'s: the server has its
        // result); an fsynced one is whole. Nothing in it to keep or to look at.
        rmSync(file, { force: true });
        this.#options.log.warn(
          { file },
          `removed ${file}: a power cut left it empty (a copy of a result the server has, never fsynced)`,
        );
        return undefined;
      }
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

/** Empty, or starting with a NUL byte: a file whose data never reached the disk, only its name. */
function neverReachedTheDisk(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const first = Buffer.alloc(1);
    return readSync(fd, first, 0, 1, 0) === 0 || first[0] === 0;
  } finally {
    closeSync(fd);
  }
}
