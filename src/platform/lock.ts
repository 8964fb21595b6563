/**
 * One worker per data folder. The lock names its owner by pid, boot and start time
 * (./process-identity.ts), so one left from before a reboot is stale. Two workers starting together
 * never both run: the lock is created whole, and a stale one removed only under a takeover file.
 */
import {
  closeSync,
  constants,
  linkSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { HiveError } from './errors.ts';
import {
  asIdentity,
  identify,
  isPidAlive,
  isRunning,
  type ProcessIdentity,
} from './process-identity.ts';

export const LOCK_FILE = 'worker.lock';

/** The lock file's JSON; `pid` comes first (updater.sh and updater.bat read it with sed / for). */
export interface LockInfo extends ProcessIdentity {
  startedAt: string;
}

/** How long acquiring waits on a lock being written or taken over by another worker. */
const SETTLE_MS = 3000;
/** A takeover lasts microseconds; a takeover file this old was left by a worker that died in one. */
const STALE_TAKEOVER_MS = 10_000;

/** Takes the lock or throws LOCKED naming the running worker. Returns the release function. */
export function acquireLock(dataDir: string): () => void {
  const file = join(dataDir, LOCK_FILE);
  const { pid, ...identity } = identify();
  const text = JSON.stringify({ pid, startedAt: new Date().toISOString(), ...identity });
  const temp = `${file}.${pid}.tmp`;
  // Made afresh and exclusively: a symlink planted under the temp name is removed, never written through.
  rmSync(temp, { force: true });
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  try {
    const deadline = Date.now() + SETTLE_MS;
    while (!createWhole(temp, file, text)) {
      const found = readText(file);
      const holder = found === undefined ? undefined : parseLock(found);
      if (holder !== undefined && holder.pid !== pid && isRunning(holder)) {
        throw new HiveError(
          'LOCKED',
          `another worker (pid ${holder.pid}, started ${holder.startedAt}) is already running on ${dataDir}; stop it first or give this one another DATA_DIR`,
        );
      }
      if (Date.now() > deadline) throw new HiveError('LOCKED', `could not take the lock ${file}`);
      // Unreadable and young: another worker is writing it (only without hard links, below).
      if (found !== undefined && holder === undefined && ageMs(file) < SETTLE_MS) sleepSync(20);
      else if (found !== undefined) takeOverStale(file, found);
    }
  } finally {
    rmSync(temp, { force: true });
  }
  return () => releaseLock(file, text);
}

/** The lock's holder as written, if the file is readable; used by --status too. */
export function readLock(dataDir: string): LockInfo | undefined {
  const text = readText(join(dataDir, LOCK_FILE));
  return text === undefined ? undefined : parseLock(text);
}

/** True when the worker a lock names is still running (not merely its pid: see the header). */
export function isLockHeld(lock: LockInfo): boolean {
  return isRunning(lock);
}

/** Whether some process has this pid (the lock's pid may since belong to another process). */
export const isAlive = isPidAlive;

/**
 * Creates `file` holding `text`, whole, if it does not exist. A hard link is atomic and never
 * half-written; where the file system has none (FAT on a USB stick), an exclusive create, whose
 * content follows a moment later (acquireLock waits for an unreadable young lock).
 */
function createWhole(temp: string, file: string, text: string): boolean {
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS')
      throw error;
  }
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Removes the stale lock `staleText` under the takeover file, if it is still that lock: between
 * judging it stale and removing it, another worker may have taken it over and written its own.
 */
function takeOverStale(file: string, staleText: string): void {
  const takeover = `${file}.takeover`;
  let fd: number;
  try {
    fd = openSync(takeover, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (ageMs(takeover) > STALE_TAKEOVER_MS) rmSync(takeover, { force: true });
    else sleepSync(20); // another worker is taking it over: look again in a moment
    return;
  }
  try {
    if (readText(file) === staleText) rmSync(file, { force: true });
  } finally {
    closeSync(fd);
    rmSync(takeover, { force: true });
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const data = JSON.parse(text) as Record<string, unknown>;
    const identity = asIdentity(data);
    return identity === undefined ? undefined : { ...identity, startedAt: String(data.startedAt) };
  } catch {
    return undefined;
  }
}

/** Never through a symlink (O_NOFOLLOW where the platform has it). */
function readText(file: string): string | undefined {
  try {
    return readFileSync(file, {
      encoding: 'utf8',
      flag: constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0),
    });
  } catch {
    return undefined; // missing, or a symlink (never followed)
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function releaseLock(file: string, text: string): void {
  // Only our own lock: after a forced takeover (a lock judged stale by mistake) it may be another's.
  if (readText(file) === text) rmSync(file, { force: true });
}
