/**
 * Whether this Windows process has a console, and whose: kernel32's GetConsoleProcessList (the
 * processes attached to our console; none without one) and GetConsoleWindow, through node:ffi
 * (./ffi.ts). Said once in the start-up banner: a worker started by the updater (`start` without
 * /b: a new console) has one of its own; one typed at a prompt shares that prompt's; one started
 * hidden in the background has none (nothing on screen to close it with).
 */
import { withFfi } from './ffi.ts';

export type ConsoleFacts =
  | { kind: 'none' }
  /** `others`: processes attached besides this one; `window`: GetConsoleWindow gave a handle. */
  | { kind: 'own' | 'shared'; others: number; window: boolean };

/** Room for this many pids; GetConsoleProcessList still counts them all when there are more. */
const LIST_ROOM = 64;

/** This process's console, read now; undefined when it cannot be told (not Windows, no ffi). */
export function windowsConsole(): ConsoleFacts | undefined {
  if (process.platform !== 'win32') return undefined;
  const read = withFfi((ffi): ConsoleFacts | undefined => {
    try {
      const kernel = ffi.dlopen('kernel32.dll', {
        GetConsoleProcessList: { arguments: ['pointer', 'uint32'], return: 'uint32' },
        GetConsoleWindow: { arguments: [], return: 'pointer' },
      }).functions;
      const { GetConsoleProcessList: list, GetConsoleWindow: window } = kernel;
      if (list === undefined || window === undefined) return undefined;
      const pids = Buffer.alloc(4 * LIST_ROOM);
      // 0: no console at all (the call fails with ERROR_INVALID_HANDLE).
      const count = Number(list(pids, LIST_ROOM));
      if (count === 0) return { kind: 'none' };
      const own = count === 1 && pids.readUInt32LE(0) === process.pid;
      return { kind: own ? 'own' : 'shared', others: count - 1, window: window() !== 0n };
    } catch {
      return undefined;
    }
  });
  return read ?? undefined;
}

/** The banner's words for it. */
export function describeConsole(facts: ConsoleFacts): string {
  if (facts.kind === 'none') return 'none (running in the background, no window)';
  const window = facts.window ? 'window' : 'console, without a window';
  if (facts.kind === 'own') return `its own ${window} (closing it stops the worker)`;
  return `shared ${window} with ${facts.others} other process(es) (closing it stops the worker)`;
}
