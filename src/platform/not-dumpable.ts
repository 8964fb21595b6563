/**
 * The worker made non-dumpable on Linux (prctl PR_SET_DUMPABLE 0): a process of the same user, a
 * task among them, can no longer read its environ, memory or fds, nor attach a debugger
 * (docs/reliability.md, "What tasks see"). exec makes task processes dumpable again.
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
