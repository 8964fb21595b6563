/** Crash-safe file writes: a file is either absent, the old content, or the whole new content. */
import {
  close,
  closeSync,
  fsync,
  fsyncSync,
  open,
  openSync,
  rename,
  renameSync,
  rm,
  rmSync,
  write,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * A file's content: one piece, or pieces written one after the other (a big text framed by small
 * ones is written without first being joined into a copy of itself).
 */
export type FileData = string | Uint8Array | readonly (string | Uint8Array)[];

export interface WriteOptions {
  /** @default true */
  durable?: boolean;
}

/**
 * Writes to a temp file, fsyncs it, renames it over `path`, then fsyncs the folder (where allowed).
 * `durable: false` skips both fsyncs: still whole-or-absent if the process dies, but a power cut
 * may lose it — for files whose loss costs nothing but a repeat, written often enough that an
 * fsync's time counts (docs/performance.md, "Why these choices").
 */
export function writeFileAtomic(path: string, data: FileData, options: WriteOptions = {}): void {
  runSync(atomicWrite(path, data, options));
}

/**
 * writeFileAtomic's very steps, each on libuv's threadpool: the event loop goes on meanwhile (the
 * outbox sends a result while its copy is written). Two writes of one path at once would share
 * its temp file: callers keep to one at a time per path.
 */
export function writeFileAtomicAsync(
  path: string,
  data: FileData,
  options: WriteOptions = {},
): Promise<void> {
  return runAsync(atomicWrite(path, data, options));
}

/** Makes a rename durable; Windows cannot open folders for fsync, and does not need to. */
export function fsyncDir(dir: string): void {
  runSync(syncFolder(dir));
}

/**
 * One file system call. The steps of a write are written once, as a generator that yields these;
 * runSync performs them with the *Sync calls, runAsync with the callback ones, and each feeds the
 * call's result (or throws its error) back in, so the try/finally below behave the same in both.
 */
type Step =
  | { op: 'open'; path: string; flags: 'w' | 'r'; mode?: number }
  | { op: 'write'; fd: number; data: Uint8Array }
  | { op: 'fsync'; fd: number }
  | { op: 'close'; fd: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'rm'; path: string };

/** A step's result: the fd of an open, the bytes taken by a write, 0 otherwise. */
type Steps = Generator<Step, void, number>;

function* atomicWrite(path: string, data: FileData, { durable = true }: WriteOptions): Steps {
  const temp = `${path}.${process.pid}.tmp`; // outbox.open() deletes what a crash left
  const pieces = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
  const fd = yield { op: 'open', path: temp, flags: 'w', mode: 0o600 };
  try {
    for (const piece of pieces) {
      // Encoded one piece at a time: only one piece's bytes are held beside the text.
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
      // A write may take fewer bytes than asked (a nearly full disk): the rest goes in another,
      // which then fails (ENOSPC) instead of a short file being renamed into place as whole.
      for (let done = 0; done < bytes.length; ) {
        const taken = yield { op: 'write', fd, data: bytes.subarray(done) };
        if (taken <= 0) throw new Error(`cannot write ${temp}: the file system took no bytes`);
        done += taken;
      }
    }
    if (durable) yield { op: 'fsync', fd };
  } finally {
    yield { op: 'close', fd };
  }
  try {
    yield { op: 'rename', from: temp, to: path };
  } catch (error) {
    yield { op: 'rm', path: temp };
    throw error;
  }
  if (durable) yield* syncFolder(dirname(path));
}

function* syncFolder(dir: string): Steps {
  if (process.platform === 'win32') return;
  const fd = yield { op: 'open', path: dir, flags: 'r' };
  try {
    yield { op: 'fsync', fd };
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

async function runAsync(steps: Steps): Promise<void> {
  let next = steps.next();
  while (next.done !== true) {
    let result: number;
    try {
      result = await stepAsync(next.value);
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
