/**
 * Results on disk until the server has them, and the once-per-task store.
 *
 * outbox/<resultId>.json   unsent results; removed only when the server answered 2xx or 409 and
 *                          the file's first write has finished (it is written while first sent)
 * done/<task key>.json     every result produced, by task id, kept RESULT_RETENTION (once per task)
 * rejected/<resultId>.json results the server refused, with its answer: kept, never deleted silently
 * corrupt/                 unreadable files (a power cut mid-write), moved aside for a person to look at
 *
 * Every write is atomic (src/platform/fs-atomic.ts), so a file is whole or absent whatever kills the process.
 *
 * A file is `{"taskId":…,"storedAt":…,"body":<the POST body>}`, the body last and as the very text
 * that is sent (EncodedResult): written as three pieces, never parsed or encoded again on the way.
 * Files from before (the body not last) are read as well; their body is re-encoded once, to the
 * same text (it was JSON.stringify's, and JSON.stringify(JSON.parse(text)) gives it back).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { coerceError } from '../platform/errors.ts';
import { writeFileAtomic, writeFileAtomicAsync } from '../platform/fs-atomic.ts';
import type { Logger } from '../platform/log.ts';
import { type EncodedResult, ResultBodySchema } from '../wire/protocol.ts';

const EntrySchema = z.object({ taskId: z.string(), body: ResultBodySchema, storedAt: z.string() });

/** A result the outbox keeps: its body is the text that is POSTed. */
export interface OutboxEntry {
  taskId: string;
  storedAt: string;
  body: EncodedResult;
}

/** A new result (Outbox.add): `written` settles when its outbox file is whole on disk, or failed. */
export interface NewEntry {
  entry: OutboxEntry;
  written: Promise<void>;
}

const PRUNE_EVERY_MS = 3_600_000;

export interface OutboxOptions {
  dataDir: string;
  maxEntries: number;
  retentionMs: number;
  log: Logger;
  now?: () => number;
}

export class Outbox {
  readonly #dirs: { outbox: string; done: string; rejected: string; corrupt: string };
  readonly #options: OutboxOptions;
  readonly #pending = new Map<string, OutboxEntry>();
  /**
   * Outbox writes of add(), by resultId: true once whole on disk, false if it failed. A finished
   * write leaves at once; a failed one stays until the server has answered (markDelivered).
   */
  readonly #writing = new Map<string, Promise<boolean>>();
  /** Results whose once-per-task copy (done/) is written on the next turn, by task id. */
  readonly #doneToWrite = new Map<string, OutboxEntry>();
  #prunedAtMs = 0;

  constructor(options: OutboxOptions) {
    this.#options = options;
    const root = options.dataDir;
    this.#dirs = {
      outbox: join(root, 'outbox'),
      done: join(root, 'done'),
      rejected: join(root, 'rejected'),
      corrupt: join(root, 'corrupt'),
    };
  }

  /** Creates the folders, loads what is unsent, and prunes expired once-per-task entries. */
  open(): this {
    for (const dir of Object.values(this.#dirs)) mkdirSync(dir, { recursive: true });
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
   * Keeps a new result: pending at once, durably in the outbox as soon as `written` resolves (the
   * write runs on the threadpool while the caller sends the result: ResultDelivery.deliverNew),
   * then in the once-per-task store on the next turn of the event loop.
   */
  add(taskId: string, body: EncodedResult): NewEntry {
    const entry: OutboxEntry = { taskId, body, storedAt: new Date(this.#now()).toISOString() };
    const { resultId } = body;
    const written = writeFileAtomicAsync(
      join(this.#dirs.outbox, fileName(resultId)),
      pieces(entry),
    );
    // Handled here, so a failure the caller does not await never becomes an unhandled rejection.
    const finished = written.then(
      () => {
        this.#writing.delete(resultId);
        return true;
      },
      () => false,
    );
    this.#writing.set(resultId, finished);
    this.#pending.set(resultId, entry);
    this.#doneToWrite.set(taskId, entry);
    if (this.#doneToWrite.size === 1) setImmediate(() => this.#writeDone());
    // A worker that runs for months prunes as it goes, at most hourly.
    if (this.#now() - this.#prunedAtMs > PRUNE_EVERY_MS) this.pruneDone();
    return { entry, written };
  }

  /**
   * The once-per-task store. Not fsynced: the outbox copy is the durable one, and losing this one
   * (a power cut, a full disk) costs at most a re-run of the task if the server sends it again.
   */
  #writeDone(): void {
    for (const [taskId, entry] of this.#doneToWrite) {
      try {
        writeFileAtomic(join(this.#dirs.done, taskKey(taskId)), pieces(entry), {
          durable: false,
        });
      } catch (error) {
        this.#options.log.warn(
          `cannot keep the result of task ${taskId} for re-deliveries (${coerceError(error).message}); if the server sends it again, it runs again`,
        );
      }
    }
    this.#doneToWrite.clear();
  }

  /** The result this worker already produced for a task, if within retention. */
  storedResult(taskId: string): OutboxEntry | undefined {
    const queued = [...this.#pending.values()].find((entry) => entry.taskId === taskId);
    if (queued !== undefined) return queued;
    const file = join(this.#dirs.done, taskKey(taskId));
    const entry = this.#doneToWrite.get(taskId) ?? this.#readEntry(file, { missingIsFine: true });
    if (entry === undefined || entry.taskId !== taskId) return undefined;
    return this.#isExpired(entry) ? undefined : entry;
  }

  /** Puts a stored result back in the outbox (a re-delivered task): the SAME body and resultId. */
  requeue(entry: OutboxEntry): OutboxEntry {
    const { resultId } = entry.body;
    if (this.#pending.has(resultId)) return entry;
    // Still being written by add() but no longer pending: the server has answered it, so it needs
    // no file, and a second write now would share the first one's temp file.
    if (!this.#writing.has(resultId)) {
      writeFileAtomic(join(this.#dirs.outbox, fileName(resultId)), pieces(entry));
    }
    this.#pending.set(resultId, entry);
    return entry;
  }

  /**
   * Settles when add()'s write of this result is over: true when its file is on disk (or was
   * never add()'s to write), false when that write failed.
   */
  whenWritten(resultId: string): Promise<boolean> {
    return this.#writing.get(resultId) ?? Promise.resolve(true);
  }

  /**
   * The server has it (2xx or 409). Its file goes once its first write has finished: removed
   * earlier, a late rename would put a delivered result back in the outbox (sent again at the next
   * start). A write that failed left no file to remove.
   */
  async markDelivered(resultId: string): Promise<void> {
    this.#pending.delete(resultId);
    const writing = this.#writing.get(resultId);
    if (writing !== undefined && !(await writing)) {
      this.#writing.delete(resultId);
      return;
    }
    rmSync(join(this.#dirs.outbox, fileName(resultId)), { force: true });
  }

  /** The server refused it: kept in rejected/ with the server's answer. */
  async markRejected(resultId: string, answer: { status: number; text: string }): Promise<string> {
    const entry = this.#pending.get(resultId);
    const target = join(this.#dirs.rejected, fileName(resultId));
    const rejectedAt = new Date(this.#now()).toISOString();
    if (entry !== undefined) writeFileAtomic(target, pieces(entry, { rejectedAt, answer }));
    await this.markDelivered(resultId);
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
        entry = decodeEntry(readFileSync(file, 'utf8'));
      } catch {
        unreadable.push(file);
        continue;
      }
      const { resultId } = entry.body;
      writeFileAtomic(join(this.#dirs.outbox, fileName(resultId)), pieces(entry));
      this.#pending.set(resultId, entry);
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

  #isExpired(entry: OutboxEntry): boolean {
    return this.#now() - Date.parse(entry.storedAt) > this.#options.retentionMs;
  }

  #readEntry(file: string, { missingIsFine = false } = {}): OutboxEntry | undefined {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if (missingIsFine && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      return decodeEntry(text);
    } catch (error) {
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

/**
 * An entry's file as pieces: a small head (taskId, storedAt and any `extra`), the body's own text,
 * and the closing brace. The body comes last so that a reader can take it as it is (decodeEntry).
 */
function pieces(entry: OutboxEntry, extra: Record<string, unknown> = {}): string[] {
  const head = JSON.stringify({ taskId: entry.taskId, storedAt: entry.storedAt, ...extra });
  return [`${head.slice(0, -1)},"body":`, entry.body.json, '}'];
}

/**
 * A file's entry, checked as a whole (a file that is not one is corrupt: thrown). The body is the
 * file's own text where it is last (what pieces() writes); an older file's is encoded again,
 * which gives the text it was written from.
 */
function decodeEntry(text: string): OutboxEntry {
  const raw: unknown = JSON.parse(text);
  const { taskId, storedAt, body } = EntrySchema.parse(raw);
  const keys = Object.keys(raw as object);
  const start = text.indexOf('"body":') + '"body":'.length;
  // `"body":` cannot occur inside an earlier string (its quotes would be escaped there), so the
  // first one is the key; JSON.stringify writes no whitespace, so the body ends before the last `}`.
  const json =
    keys.at(-1) === 'body' && text.endsWith('}') && !/\s/.test(text[start] ?? '')
      ? text.slice(start, -1)
      : JSON.stringify(body);
  return { taskId, storedAt, body: { resultId: body.resultId, status: body.status, json } };
}

/** resultIds are ours (UUIDs), but a file name must never be able to escape the folder. */
function fileName(resultId: string): string {
  return /^[0-9A-Za-z-]{1,100}$/.test(resultId) ? `${resultId}.json` : `${taskKey(resultId)}`;
}

/** Task ids are the server's: any text. Hash them into a safe file name. */
function taskKey(taskId: string): string {
  return `${createHash('sha256').update(taskId).digest('hex').slice(0, 40)}.json`;
}
