/**
 * Ending a process together with everything it started.
 * - Linux (and other Unixes): a task process is started `detached`, which makes it the leader of a
 *   new process group (and session) whose id is its pid; whatever it spawns joins that group
 *   unless it leaves on purpose. Killing the group (`kill(-pid)`) ends the whole tree at once.
 *   The group's id stays reserved while any member lives — the kernel does not hand out a pid
 *   that is still a group's id — so signalling the group after its leader exited reaches only
 *   what the leader left behind, never an unrelated process.
 * - Windows: `taskkill /T /F /PID <pid>` ends the process and its descendants (by parent pid).
 *   A task process there is started WITHOUT `detached`: libuv puts it in the worker's
 *   kill-on-close job object, which its descendants inherit, so all of them die with the worker.
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
