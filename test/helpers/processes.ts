/** Linux process facts for tests, read from /proc: state, group, whether a process still runs. */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** Fields 3 (state) and 5 (process group) of /proc/<pid>/stat; throws if there is no such pid. */
export function statOf(pid: number): { state: string; group: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', group: Number(fields[2]) };
}

/** Running: the pid exists and is not a zombie (killed, not yet reaped by its parent). */
export function isRunning(pid: number): boolean {
  try {
    return statOf(pid).state !== 'Z';
  } catch {
    return false;
  }
}

/** True once none of `pids` runs, false if one still does after `timeoutMs`. */
export async function allGone(pids: number[], timeoutMs = 5000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await delay(50)) {
    if (!pids.some(isRunning)) return true;
  }
  return !pids.some(isRunning);
}

/** True once no process of group `pgid` runs. */
export async function groupGone(pgid: number, timeoutMs = 5000): Promise<boolean> {
  const members = () =>
    readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          const { state, group } = statOf(Number(name));
          return group === pgid && state !== 'Z';
        } catch {
          return false; // exited meanwhile
        }
      });
  for (const end = Date.now() + timeoutMs; Date.now() < end; await delay(50)) {
    if (members().length === 0) return true;
  }
  return members().length === 0;
}

/** The program a process runs (argv[0]), or undefined when it is gone. */
export function programOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return undefined;
  }
}

/** Kills what a failed test may have left running; never throws. */
export function killQuietly(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * The pids a `spins`/`spawns` fixture task said in its log line (test/fixtures/tasks.ts): the task
 * process and, if any, its grandchild.
 */
export function fixturePids(output: string): { tasks: number[]; grandchildren: number[] } {
  const tasks: number[] = [];
  const grandchildren: number[] = [];
  for (const match of output.matchAll(/spinning in (\d+)(?: \(grandchild (\d+)\))?/g)) {
    tasks.push(Number(match[1]));
    if (match[2] !== undefined) grandchildren.push(Number(match[2]));
  }
  for (const match of output.matchAll(/grandchild (\d+) of (\d+)/g)) {
    grandchildren.push(Number(match[1]));
    tasks.push(Number(match[2]));
  }
  return { tasks, grandchildren };
}
