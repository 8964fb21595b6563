/**
 * Every write to stdout/stderr goes through here. The console may be missing or break (no console,
 * EPIPE, a `process.stdout` getter that throws under Wine); it is a convenience, the log file the
 * record: a failed console is given up on, its text dropped, never thrown (`lostReason` says why).
 */
import { Writable } from 'node:stream';

export type ConsoleName = 'stdout' | 'stderr';

export interface ConsoleStream {
  /** Writes `text`; false (and the text dropped) when the console is unusable. Never throws. */
  write(text: string): boolean;
  /** An interactive terminal (colours, progress bars); false when unusable. */
  readonly isTTY: boolean;
  /** The Node stream, when it can be had (a progress bar draws on it). */
  readonly stream: NodeJS.WriteStream | undefined;
  /** Why the console is unusable, once it is; undefined while it works. */
  readonly lostReason: string | undefined;
}

type Getter = () => NodeJS.WriteStream;

const GETTERS: Record<ConsoleName, Getter> = {
  stdout: () => process.stdout,
  stderr: () => process.stderr,
};

const opened = new Map<ConsoleName, ConsoleStream>();

/**
 * This process's stdout or stderr, shared by every caller. When Node cannot make the stream (the
 * getter throws), it becomes one that discards: Node's own modules read it too, and must not throw.
 */
export function consoleStream(name: ConsoleName): ConsoleStream {
  let found = opened.get(name);
  if (found === undefined) {
    found = openConsoleStream(name, GETTERS[name]);
    opened.set(name, found);
    if (found.stream === undefined) {
      const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
      Object.defineProperty(process, name, {
        configurable: true,
        enumerable: true,
        value: discard,
      });
    }
  }
  return found;
}

/** Called first in every process of the worker: after it, reading process.stdout/stderr is safe. */
export function guardStdio(): void {
  consoleStream('stdout');
  consoleStream('stderr');
}

/** One console stream from `get` (process.stdout / process.stderr, or a test's stand-in). */
export function openConsoleStream(name: ConsoleName, get: Getter): ConsoleStream {
  let stream: NodeJS.WriteStream | undefined;
  let lostReason: string | undefined;
  const lose = (error: unknown) => {
    if (lostReason !== undefined) return;
    const { code, message } = error as { code?: unknown; message?: unknown };
    lostReason = `${name}: ${typeof code === 'string' ? code : String(message ?? error)}`;
  };
  try {
    stream = get();
    // An asynchronous failure (EPIPE on a pipe whose reader left) arrives as an 'error' event,
    // which, unheard, would crash the process.
    stream.on('error', lose);
  } catch (error) {
    stream = undefined;
    lose(error);
  }
  let isTTY = false;
  try {
    isTTY = stream?.isTTY === true;
  } catch {
    // A stream this broken is not a terminal.
  }
  return {
    get isTTY() {
      return lostReason === undefined && isTTY;
    },
    get stream() {
      return lostReason === undefined ? stream : undefined;
    },
    get lostReason() {
      return lostReason;
    },
    write(text) {
      if (lostReason !== undefined || stream === undefined) return false;
      try {
        stream.write(text);
        return true;
      } catch (error) {
        lose(error);
        return false;
      }
    },
  };
}

/** Colours only on a terminal, and not when NO_COLOR is set to anything but "" (README). */
export function wantsColor(
  stream: { readonly isTTY: boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return stream.isTTY && (env.NO_COLOR ?? '') === '';
}
