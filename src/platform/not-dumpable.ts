/**
 * The worker process made non-dumpable on Linux (prctl PR_SET_DUMPABLE 0): another process of the
 * same user — a task among them — can no longer read its /proc/<pid>/environ, mem, maps or fd/,
 * nor attach a debugger; no core dump is written. /proc/<pid>/cmdline, stat and status stay
 * readable by everyone (docs/reliability.md, "What tasks see"). Task processes are unaffected:
 * exec makes every new program dumpable again.
 */
import { libcFunction } from './libc.ts';

const PR_SET_DUMPABLE = 4;

/** True when the process is now non-dumpable; false where that cannot be had (not Linux, no glibc). */
export function makeNotDumpable(): boolean {
  const prctl = libcFunction('prctl', {
    arguments: ['int32', 'uint64', 'uint64', 'uint64', 'uint64'],
    return: 'int32',
  });
  return prctl !== null && prctl(PR_SET_DUMPABLE, 0n, 0n, 0n, 0n) === 0;
}
