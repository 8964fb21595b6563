/**
 * Who a pid is, beyond the number, which is reused after a reboot (and rarely within one).
 * - Linux: the boot id and the process's start time in clock ticks since boot: unique together.
 * - Elsewhere (Windows): the machine's boot time, from the uptime, to the minute or so: a pid from
 *   before the last reboot reads as gone; within one boot the pid alone is trusted.
 */
import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';

export interface ProcessIdentity {
  pid: number;
  /** Linux: the boot id of the boot the process started in. */
  bootId?: string;
  /** Linux: its start time, in clock ticks since that boot (a decimal string: it may pass 2^53). */
  startTicks?: string;
  /** Not Linux: when the machine booted (ms since the epoch; approximate). */
  bootTimeMs?: number;
}

/**
 * Two boot-time readings of one boot differ by clock adjustments (NTP) only; two boots differ by
 * at least the time a reboot takes plus the time the earlier worker ran.
 */
const BOOT_TIME_TOLERANCE_MS = 120_000;

const isLinux = process.platform === 'linux';

/** The identity of a running process (this one by default). */
export function identify(pid = process.pid): ProcessIdentity {
  if (!isLinux) return { pid, bootTimeMs: Date.now() - uptime() * 1000 };
  const bootId = currentBootId();
  const startTicks = startTicksOf(pid);
  return {
    pid,
    ...(bootId === undefined ? {} : { bootId }),
    ...(startTicks === undefined ? {} : { startTicks }),
  };
}

/**
 * True when the process `identity` names still runs: its pid is alive and, where recorded, the boot
 * and start time match (an identity with the pid alone is judged by the pid alone).
 */
export function isRunning(identity: ProcessIdentity): boolean {
  if (!isPidAlive(identity.pid)) return false;
  if (isLinux) {
    if (identity.bootId !== undefined && identity.bootId !== currentBootId()) return false;
    if (identity.startTicks !== undefined && identity.startTicks !== startTicksOf(identity.pid))
      return false;
    return true;
  }
  if (identity.bootTimeMs !== undefined) {
    const bootTimeMs = Date.now() - uptime() * 1000;
    return Math.abs(bootTimeMs - identity.bootTimeMs) <= BOOT_TIME_TOLERANCE_MS;
  }
  return true;
}

/** Reads an identity back from parsed JSON; undefined when it is not one. */
export function asIdentity(value: unknown): ProcessIdentity | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, bootId, startTicks, bootTimeMs } = value as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return {
    pid,
    ...(typeof bootId === 'string' ? { bootId } : {}),
    ...(typeof startTicks === 'string' ? { startTicks } : {}),
    ...(typeof bootTimeMs === 'number' ? { bootTimeMs } : {}),
  };
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootIdCache: string | undefined;
function currentBootId(): string | undefined {
  if (bootIdCache === undefined) bootIdCache = readText('/proc/sys/kernel/random/boot_id');
  return bootIdCache;
}

/** Field 22 of /proc/<pid>/stat; fields are counted after the command name's closing `)`. */
function startTicksOf(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[22 - 3]; // fields[0] is field 3 (state)
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}
