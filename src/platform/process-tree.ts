/**
 * Ending a process with everything it started. POSIX: a task process leads its own process group,
 * killed with `kill(-pid)` (a group id is not reused while a member lives). Windows: `taskkill /T`;
 * a task process is not `detached` there, so it stays in the worker's kill-on-close job object.
 */
import { spawn } from 'node:child_process';

/** Whether task processes get a process group of their own (see the header). */
export const OWN_PROCESS_GROUP = process.platform !== 'win32';

/**
 * Kills `pid` and its descendants; never throws (a tree already gone is not an error).
 * `killProcess` ends the process alone when the tree cannot be killed (no taskkill, or it failed:
 * Wine's is partial); a caller holding the ChildProcess passes its kill, which uses the process
 * handle and so cannot reach another process that got the pid since.
 */
export function killProcessTree(pid: number, killProcess = () => killPid(pid)): void {
  if (process.platform === 'win32') {
    const taskkill = spawn('taskkill', ['/T', '/F', '/PID', String(pid)], {
      stdio: 'ignore',
      windowsHide: true,
    });
    taskkill.on('error', killProcess);
    taskkill.on('exit', (code) => {
      if (code !== 0) killProcess();
    });
    return;
  }
  if (!killGroup(pid)) killProcess();
}

/**
 * SIGKILL to the process group `pgid`; false when no such group exists. Refuses ids that are not
 * a task's group: kill(-1) would signal every process we may signal (as root: all of them), and
 * kill(0) our own group.
 */
export function killGroup(pgid: number): boolean {
  if (!Number.isSafeInteger(pgid) || pgid <= 1 || pgid === process.pid) return false;
  try {
    process.kill(-pgid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

function killPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
