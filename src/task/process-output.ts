/**
 * A task process's stdout (info) and stderr (error) read as lines into its log tail
 * (./log-tail.ts), the last stderr lines kept apart to explain a crash. A flood without newlines
 * cannot grow memory.
 */
import type { Readable } from 'node:stream';
import type { LogTail } from './log-tail.ts';

/** stderr lines kept to explain a crash. */
const STDERR_TAIL_LINES = 20;
/** A partial line longer than this (no newline yet) is cut to its first 4 KiB. */
const MAX_PARTIAL_LINE = 64 * 1024;

type Listen = (emitter: NodeJS.EventEmitter, event: string, listener: (arg: never) => void) => void;

export class ProcessOutput {
  readonly #tail: LogTail;
  /** The last lines of stderr, oldest first. */
  readonly stderrTail: string[] = [];
  /** Chunks read so far, from both streams. */
  chunks = 0;
  /** Bytes read from each stream since the task's run message went (`countFromRun`). */
  #bytes = { info: 0, error: 0 };

  constructor(tail: LogTail) {
    this.#tail = tail;
  }

  /** The run message is going: output from here on is the task's. */
  countFromRun(): void {
    this.#bytes = { info: 0, error: 0 };
  }

  /** Whether this much of stdout and stderr (in bytes) has been read since the run message. */
  hasRead(bytes: { stdout: number; stderr: number }): boolean {
    return this.#bytes.info >= bytes.stdout && this.#bytes.error >= bytes.stderr;
  }

  /** Reads `stream` as lines of `level`; `listen` registers the listeners (undone by its owner). */
  read(stream: Readable | null, level: 'info' | 'error', listen: Listen): void {
    if (stream === null) return;
    let pending = '';
    stream.setEncoding('utf8');
    listen(stream, 'data', (chunk: string) => {
      this.chunks++;
      // Decoded text: as many bytes as arrived once its characters are whole (a byte that is not
      // UTF-8 counts 3, as its replacement): never fewer, so a count reached is all of it.
      this.#bytes[level] += Buffer.byteLength(chunk);
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > MAX_PARTIAL_LINE) pending = pending.slice(0, 4096);
      for (const line of lines) this.#onLine(line, level);
    });
    listen(stream, 'end', () => {
      if (pending !== '') this.#onLine(pending, level);
    });
  }

  #onLine(line: string, level: 'info' | 'error'): void {
    const text = line.replace(/\r$/, '');
    if (text === '') return;
    this.#tail.push(level, text);
    if (level === 'error') {
      this.stderrTail.push(text);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    }
  }
}
