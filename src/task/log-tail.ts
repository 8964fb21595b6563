/** The tail of what a task logged: oldest lines dropped first to stay within a byte budget. */
import type { TaskLogLine } from '../wire/protocol.ts';

/** Protocol: at most 64 KiB of logs in a result. */
export const MAX_TASK_LOG_BYTES = 64 * 1024;
const MAX_LINE_CHARS = 4096;

export class LogTail {
  readonly #lines: { line: TaskLogLine; bytes: number }[] = [];
  readonly #maxBytes: number;
  readonly #scrub: (text: string) => string;
  #bytes = 0;
  #truncated = false;

  constructor(scrub: (text: string) => string, maxBytes = MAX_TASK_LOG_BYTES) {
    this.#scrub = scrub;
    this.#maxBytes = maxBytes;
  }

  push(level: TaskLogLine['level'], msg: string, at = new Date().toISOString()): TaskLogLine {
    const clipped = msg.length > MAX_LINE_CHARS ? `${msg.slice(0, MAX_LINE_CHARS)}…` : msg;
    const line = { at, level, msg: this.#scrub(clipped) };
    // Bytes of the line as it will be serialized in the result, so the budget holds on the wire.
    const bytes = Buffer.byteLength(JSON.stringify(line)) + 1;
    this.#lines.push({ line, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.#maxBytes && this.#lines.length > 0) {
      const dropped = this.#lines.shift();
      this.#bytes -= dropped?.bytes ?? 0;
      this.#truncated = true;
    }
    return line;
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  lines(): TaskLogLine[] {
    return this.#lines.map(({ line }) => line);
  }
}
