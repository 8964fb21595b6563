/**
 * The log file, rotated by size (worker.log.1 … move up one, the oldest dropped) so a worker left
 * running for months does not fill its disk. In-process and synchronous: pino's transports run in
 * worker threads that load files from disk, which a single executable cannot. A failing disk never
 * breaks the worker: the line is lost.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { consoleStream } from './console.ts';
import { HiveError } from './errors.ts';

export interface RotatingLogFileOptions {
  path: string;
  /** Size at which the file is rotated; a single line longer than this still goes in whole. */
  maxBytes: number;
  /** Files kept, the current one included (1 = the file is cut back to empty when full). */
  files: number;
  /** Where a failure of the log file itself is said (once); defaults to stderr. */
  onError?: (message: string) => void;
}

export class RotatingLogFile {
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #files: number;
  readonly #onError: (message: string) => void;
  #fd: number | undefined;
  #sizeBytes = 0;
  #hasFailed = false;

  constructor(options: RotatingLogFileOptions) {
    this.#path = options.path;
    this.#maxBytes = options.maxBytes;
    this.#files = Math.max(1, Math.floor(options.files));
    this.#onError = options.onError ?? ((message) => consoleStream('stderr').write(`${message}\n`));
    mkdirSync(dirname(this.#path), { recursive: true });
    this.#open('a');
  }

  /** pino's stream interface: one formatted line per call. */
  write(chunk: string): boolean {
    const bytes = Buffer.byteLength(chunk);
    try {
      if (this.#sizeBytes > 0 && this.#sizeBytes + bytes > this.#maxBytes) this.#rotate();
      if (this.#fd === undefined) this.#open('a');
      if (this.#fd !== undefined) {
        writeSync(this.#fd, chunk);
        this.#sizeBytes += bytes;
      }
    } catch (error) {
      this.#fail(`cannot write the log file ${this.#path}: ${(error as Error).message}`);
    }
    return true;
  }

  /** Writes are synchronous: nothing is ever pending (pino calls this on flush). */
  flushSync(): void {}

  end(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  /**
   * 0600, also for a file found wider. Never through a symlink (O_NOFOLLOW; on Windows an lstat
   * first): a planted link would make us chmod and append to a file of someone else's choosing.
   */
  #open(flags: 'a' | 'w'): void {
    const mode = flags === 'a' ? constants.O_APPEND : constants.O_TRUNC;
    let fd: number;
    try {
      if (constants.O_NOFOLLOW === undefined && isSymlink(this.#path)) throw linkError(this.#path);
      fd = openSync(
        this.#path,
        constants.O_WRONLY | constants.O_CREAT | mode | (constants.O_NOFOLLOW ?? 0),
        0o600,
      );
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'EMLINK') throw linkError(this.#path);
      throw error;
    }
    this.#fd = fd;
    const stat = fstatSync(fd);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    this.#sizeBytes = stat.size;
  }

  #rotate(): void {
    this.end();
    try {
      for (let index = this.#files - 1; index >= 1; index--) {
        const from = index === 1 ? this.#path : `${this.#path}.${index - 1}`;
        const to = `${this.#path}.${index}`;
        if (index === this.#files - 1) removeIfThere(to);
        renameIfThere(from, to);
      }
      this.#open(this.#files === 1 ? 'w' : 'a');
    } catch (error) {
      // On Windows another program (an editor, a virus scanner) may hold a file open so it
      // cannot be renamed: start the file over rather than let it grow without bound.
      this.#fail(
        `cannot rotate the log file ${this.#path}: ${(error as Error).message}; it starts over`,
      );
      this.#open('w');
    }
  }

  #fail(message: string): void {
    if (this.#hasFailed) return;
    this.#hasFailed = true;
    this.#onError(message);
  }
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false; // missing: created below
  }
}

function linkError(path: string): HiveError {
  return new HiveError(
    'CONFIG',
    `Refusing to run: the log file ${path} is a symbolic link; the worker never follows one inside its data folder: remove it`,
  );
}
