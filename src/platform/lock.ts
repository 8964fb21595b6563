/**
 * One worker per data folder. The lock file holds the owner's pid; a lock whose pid is gone
 * (a crashed or killed worker) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HiveError } from './errors.ts';

export const LOCK_FILE = 'worker.lock';

export interface LockInfo {
  pid: number;
  startedAt: string;
}

/** Takes the lock or throws LOCKED naming the running worker. Returns the release function. */
export function acquireLock(dataDir: string): () => void {
  const file = join(dataDir, LOCK_FILE);
  for (let tries = 0; tries < 3; tries++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(
        fd,
        JSON.stringify({
          pid: process.pid,
          startedAt: new Date().toISOString(),
        } satisfies LockInfo),
      );
      closeSync(fd);
      return () => releaseLock(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readLock(dataDir);
    if (holder !== undefined && holder.pid !== process.pid && isAlive(holder.pid)) {
      throw new HiveError(
        'LOCKED',
        `another worker (pid ${holder.pid}, started ${holder.startedAt}) is already running on ${dataDir}; stop it first or give this one another DATA_DIR`,
      );
    }
    rmSync(file, { force: true }); // stale: its owner is gone
  }
  throw new HiveError('LOCKED', `could not take the lock ${file}`);
}

/** The lock's holder as written, if the file is readable; used by --status too. */
export function readLock(dataDir: string): LockInfo | undefined {
  try {
    const data = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as Partial<LockInfo>;
    return typeof data.pid === 'number'
      ? { pid: data.pid, startedAt: String(data.startedAt) }
      : undefined;
  } catch {
    return undefined; // missing, or half-written by a worker that died mid-write: treated as stale
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseLock(file: string): void {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockInfo>;
    if (data.pid === process.pid) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}
