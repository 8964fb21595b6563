/** Crash-safe file writes: a file is either absent, the old content, or the whole new content. */
import {
  close,
  closeSync,
  fsync,
  fsyncSync,
  open,
  openSync,
  read,
  readSync,
  rename,
  renameSync,
  rm,
  rmSync,
  write,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** `bytes` bytes of another file from `start`: copied through a small buffer, never held whole. */
export interface FileSlice {
  file: string;
  start: number;
  bytes: number;
}

/** A file's content: one piece, or pieces written one after the other, never joined into a copy. */
export type FileData = string | Uint8Array | readonly (string | Uint8Array | FileSlice)[];

/**
 * How much of a FileSlice is read before it is written: the copy's whole memory. Under the C
 * allocator's threshold for big allocations (128 KiB), which a freed bigger buffer would raise.
 */
const COPY_CHUNK_BYTES = 64 * 1024;

export interface WriteOptions {
  /** @default true */
  durable?: boolean;
  /**
   * `false`: the folder's fsync is left to the caller, who makes one for several renames (a
   * group commit, src/results/group-commit.ts). @default durable
   */
  syncFolder?: boolean;
  /** Told of every fsync made (a file's, or its folder's): for counting them. */
  fsynced?: ((what: 'file' | 'folder') => void) | undefined;
}

/**
 * Writes to a temp file, fsyncs it, renames it over `path`, then fsyncs the folder (where allowed).
 * `durable: false` skips both fsyncs (still whole-or-absent if the process dies, not after a power
 * cut): for files whose loss costs only a repeat (docs/performance.md, "Why these choices").
 */
export function writeFileAtomic(path: string, data: FileData, options: WriteOptions = {}): void {
  runSync(atomicWrite(path, data, options));
}

/**
 * writeFileAtomic's steps on libuv's threadpool, the event loop going on meanwhile. Two writes of
 * one path at once would share its temp file: callers keep to one at a time per path.
 */
export function writeFileAtomicAsync(
  path: string,
  data: FileData,
  options: WriteOptions = {},
): Promise<void> {
  return runAsync(atomicWrite(path, data, options), isSmall(data) ? QUICK : EVERY);
}

/**
 * Content short enough that writing it takes microseconds: its writes and close are made on the
 * event loop's thread, which a trip to the threadpool costs more (a wake-up, a completion, a
 * callback: docs/performance.md). Open, rename and fsync stay there: they may wait for the file
 * system's journal, for milliseconds when a commit is under way.
 */
const SMALL_BYTES = 64 * 1024;

function isSmall(data: FileData): boolean {
  const pieces = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
  let bytes = 0;
  for (const piece of pieces) {
    if (typeof piece === 'object' && 'file' in piece) return false;
    bytes += typeof piece === 'string' ? piece.length * 3 : piece.byteLength;
  }
  return bytes <= SMALL_BYTES;
}

/** Makes a rename durable; Windows cannot open folders for fsync, and does not need to. */
export function fsyncDir(dir: string): void {
  runSync(syncFolder(dir));
}

/**
 * A folder's fsync, again and again: the folder is opened on the first and kept open, so each
 * later one is a single trip to the threadpool instead of three (open, fsync, close). One at a
 * time (a group commit's); `close` lets the folder go. Nothing on Windows, as fsyncDir.
 */
export class FolderSync {
  readonly #dir: string;
  readonly #fsynced: WriteOptions['fsynced'];
  #fd: number | undefined;

  constructor(dir: string, fsynced?: WriteOptions['fsynced']) {
    this.#dir = dir;
    this.#fsynced = fsynced;
  }

  async sync(): Promise<void> {
    if (process.platform === 'win32') return;
    this.#fd ??= await stepAsync({ op: 'open', path: this.#dir, flags: 'r' });
    try {
      await stepAsync({ op: 'fsync', fd: this.#fd });
    } catch (error) {
      this.close(); // opened afresh next time
      throw error;
    }
    this.#fsynced?.('folder');
  }

  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // already gone: nothing held
    }
  }
}

/**
 * One file system call. A write's steps are written once, as a generator yielding these: runSync
 * performs them with the *Sync calls, runAsync with the callback ones, so both behave the same.
 */
type Step =
  | { op: 'open'; path: string; flags: 'w' | 'r'; mode?: number }
  | { op: 'write'; fd: number; data: Uint8Array }
  | { op: 'read'; fd: number; data: Uint8Array; position: number }
  | { op: 'fsync'; fd: number }
  | { op: 'close'; fd: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'rm'; path: string };

/** A step's result: the fd of an open, the bytes taken by a write or given by a read, 0 otherwise. */
type Steps = Generator<Step, void, number>;

function* atomicWrite(path: string, data: FileData, options: WriteOptions): Steps {
  const { durable = true, syncFolder: folder = durable, fsynced } = options;
  const temp = `${path}.${process.pid}.tmp`; // outbox.open() deletes what a crash left
  const pieces = joinedIfSmall(
    typeof data === 'string' || data instanceof Uint8Array ? [data] : data,
  );
  const fd = yield { op: 'open', path: temp, flags: 'w', mode: 0o600 };
  try {
    try {
      for (const piece of pieces) {
        if (typeof piece === 'object' && 'file' in piece) {
          yield* copySlice(piece, fd, temp);
          continue;
        }
        // Encoded one piece at a time: only one piece's bytes are held beside the text.
        yield* writeAll(fd, typeof piece === 'string' ? Buffer.from(piece) : piece, temp);
      }
      if (durable) {
        yield { op: 'fsync', fd };
        fsynced?.('file');
      }
    } finally {
      yield { op: 'close', fd }; // before the rm below: Windows removes no open file
    }
    yield { op: 'rename', from: temp, to: path };
  } catch (error) {
    // A failed write or rename leaves no temp file behind.
    yield { op: 'rm', path: temp };
    throw error;
  }
  if (folder) yield* syncFolder(dirname(path), fsynced);
}

/** A small file's pieces as one buffer: one write call for the file, not one a piece. */
function joinedIfSmall(
  pieces: readonly (string | Uint8Array | FileSlice)[],
): readonly (string | Uint8Array | FileSlice)[] {
  if (pieces.length < 2 || !isSmall(pieces)) return pieces;
  // isSmall: no FileSlice among them.
  const bytes = pieces.map((piece) => (typeof piece === 'string' ? Buffer.from(piece) : piece));
  return [Buffer.concat(bytes as Uint8Array[])];
}

function* writeAll(fd: number, bytes: Uint8Array, temp: string): Steps {
  // A write may take fewer bytes than asked (a nearly full disk): the rest goes in another,
  // which then fails (ENOSPC) instead of a short file being renamed into place as whole.
  for (let done = 0; done < bytes.length; ) {
    const taken = yield { op: 'write', fd, data: bytes.subarray(done) };
    if (taken <= 0) throw new Error(`cannot write ${temp}: the file system took no bytes`);
    done += taken;
  }
}

/**
 * A FileSlice's source was gone or shorter than its `bytes` when it was copied: changed by
 * whoever wrote it (a task process), not a failure of the file system being written to.
 */
export class SourceChangedError extends Error {
  readonly code = 'ESOURCECHANGED';
  /** What changed, without the file's path: "it is gone", "it ends after 10 of 20 bytes". */
  readonly detail: string;
  constructor(file: string, detail: string) {
    super(`cannot copy ${file}: ${detail}`);
    this.detail = detail;
  }
}

/** Exactly `slice.bytes` bytes: a source gone or ending sooner fails the write (SourceChangedError). */
function* copySlice(slice: FileSlice, fd: number, temp: string): Steps {
  let source: number;
  try {
    source = yield { op: 'open', path: slice.file, flags: 'r' };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new SourceChangedError(slice.file, 'it is gone');
  }
  try {
    const buffer = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, Math.max(1, slice.bytes)));
    for (let done = 0; done < slice.bytes; ) {
      const want = Math.min(buffer.length, slice.bytes - done);
      const data = buffer.subarray(0, want);
      const got = yield { op: 'read', fd: source, data, position: slice.start + done };
      if (got <= 0)
        throw new SourceChangedError(slice.file, `it ends after ${done} of ${slice.bytes} bytes`);
      yield* writeAll(fd, data.subarray(0, got), temp);
      done += got;
    }
  } finally {
    yield { op: 'close', fd: source };
  }
}

function* syncFolder(dir: string, fsynced?: WriteOptions['fsynced']): Steps {
  if (process.platform === 'win32') return;
  const fd = yield { op: 'open', path: dir, flags: 'r' };
  try {
    yield { op: 'fsync', fd };
    fsynced?.('folder');
  } finally {
    yield { op: 'close', fd };
  }
}

function runSync(steps: Steps): void {
  let next = steps.next();
  while (next.done !== true) {
    let result: number;
    try {
      result = stepSync(next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(result);
  }
}

/** Which steps runAsync sends to the threadpool: every one, or all but a small file's writes. */
type OnThreadpool = (step: Step) => boolean;
const EVERY: OnThreadpool = () => true;
const QUICK: OnThreadpool = (step) => step.op !== 'write' && step.op !== 'close';

async function runAsync(steps: Steps, onThreadpool: OnThreadpool = EVERY): Promise<void> {
  let next = steps.next();
  while (next.done !== true) {
    let result: number;
    try {
      result = onThreadpool(next.value) ? await stepAsync(next.value) : stepSync(next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(result);
  }
}

function stepSync(step: Step): number {
  switch (step.op) {
    case 'open':
      return openSync(step.path, step.flags, step.mode);
    case 'write':
      return writeSync(step.fd, step.data);
    case 'read':
      return readSync(step.fd, step.data, 0, step.data.length, step.position);
    case 'fsync':
      fsyncSync(step.fd);
      return 0;
    case 'close':
      closeSync(step.fd);
      return 0;
    case 'rename':
      renameSync(step.from, step.to);
      return 0;
    case 'rm':
      rmSync(step.path, { force: true });
      return 0;
  }
}

function stepAsync(step: Step): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null, result = 0) => {
      if (error === null) resolve(result);
      else reject(error);
    };
    switch (step.op) {
      case 'open':
        open(step.path, step.flags, step.mode, done);
        break;
      case 'write':
        write(step.fd, step.data, (error, written) => done(error, written));
        break;
      case 'read':
        read(step.fd, step.data, 0, step.data.length, step.position, (error, got) =>
          done(error, got),
        );
        break;
      case 'fsync':
        fsync(step.fd, done);
        break;
      case 'close':
        close(step.fd, done);
        break;
      case 'rename':
        rename(step.from, step.to, done);
        break;
      case 'rm':
        rm(step.path, { force: true }, done);
        break;
    }
  });
}
