/**
 * Every task process this worker starts (spares included), from spawn to sweep, so that nothing
 * outlives its task or its worker (docs/reliability.md, "Task processes"):
 * - each one leads its own process group (src/platform/process-tree.ts), killed on stop and exit;
 * - a guardian `/bin/sh`, a separate process a busy task cannot starve, kills the groups still
 *   listed when the worker's pipe to it closes (the worker died); child.ts's 'disconnect' is the
 *   second line;
 * - each is recorded in `<data>/task-processes/<pid>.json` with its identity, so the next worker
 *   reaps what a dead predecessor left, and nothing else.
 * Windows needs none of this: a task process sits in the worker's kill-on-close job object.
 * Module state, like the signal handlers: the task processes of this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { asIdentity, identify, isRunning } from '../platform/process-identity.ts';
import { killGroup, killProcessTree, OWN_PROCESS_GROUP } from '../platform/process-tree.ts';

export const TASK_PROCESSES_DIR = 'task-processes';

/**
 * The guardian: `+ <pid>` adds a group, `- <pid>` removes it; at end of input (the worker is gone)
 * every group still listed is killed. Shell builtins only: it never starts a process of its own.
 */
const GUARDIAN_SCRIPT = `groups=' '
while read -r op pid; do
  case $op in
    +) groups="$groups$pid " ;;
    -) case $groups in *" $pid "*) groups="\${groups%% $pid *} \${groups#* $pid }" ;; esac ;;
  esac
done
for pid in $groups; do kill -s KILL -- "-$pid" 2>/dev/null; done
`;

/** Pids of the task processes running now (group leaders on Linux). */
const live = new Set<number>();
let ledgerDir: string | undefined;
let guardian: Socket | undefined;

export interface KeptTaskProcesses {
  /** Task processes of a dead predecessor found running and killed (with their groups). */
  reaped: number[];
  /** The worker is stopping: the guardian exits (no task process is left by then). */
  close(): void;
}

/**
 * Called once by the worker, holding the data folder's lock: kills what a dead predecessor left,
 * then records and guards every task process started from now on.
 */
export function keepTaskProcesses(dataDir: string): KeptTaskProcesses {
  if (!OWN_PROCESS_GROUP) return { reaped: [], close() {} };
  const dir = join(dataDir, TASK_PROCESSES_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const reaped = reapLeftovers(dir);
  ledgerDir = dir;
  guardian = startGuardian();
  return {
    reaped,
    close() {
      guardian?.end();
      guardian = undefined;
      ledgerDir = undefined;
    },
  };
}

/** Starts a task process (its own group on Linux), recorded and guarded until it is swept. */
export function launchTaskProcess(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    shell: false,
    windowsHide: true,
    // Linux: a group of its own (process-tree.ts). Windows: NOT detached, so the job object holds it.
    detached: OWN_PROCESS_GROUP,
    env,
  });
  const { pid } = child;
  if (pid === undefined || !OWN_PROCESS_GROUP) return child; // spawn failed: its 'error' says so
  live.add(pid);
  guardian?.write(`+ ${pid}\n`);
  if (ledgerDir !== undefined) {
    try {
      writeFileSync(join(ledgerDir, `${pid}.json`), JSON.stringify(identify(pid)), { mode: 0o600 });
    } catch {
      // Not recorded: only a successor's reaping depends on it, the guardian still knows it.
    }
  }
  child.once('exit', () => sweep(pid));
  return child;
}

/** Stops a task process and everything it started, now. */
export function killTaskTree(child: ChildProcess): void {
  if (child.pid === undefined) return;
  if (OWN_PROCESS_GROUP && !live.has(child.pid)) return; // already swept: the pid may be reused
  killProcessTree(child.pid, () => child.kill('SIGKILL'));
}

/** The worker exits at once (a second Ctrl+C): every task process and its tree, synchronously. */
export function killAllTaskTrees(): void {
  for (const pid of live) killGroup(pid);
}

/** The leader exited: what it left in its group goes too, and the records of it. */
function sweep(pid: number): void {
  killGroup(pid);
  live.delete(pid);
  guardian?.write(`- ${pid}\n`);
  if (ledgerDir !== undefined) rmSync(join(ledgerDir, `${pid}.json`), { force: true });
}

function startGuardian(): Socket | undefined {
  const child = spawn('/bin/sh', ['-c', GUARDIAN_SCRIPT], {
    // Its own session: a Ctrl+C to the terminal's process group does not reach it.
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.on('error', () => {
    guardian = undefined; // no /bin/sh: the other two lines of defence remain
  });
  const input = child.stdin as Socket | null;
  if (input === null) return undefined;
  // A guardian that died makes writes fail (EPIPE): nothing to do about it but not crash.
  input.on('error', () => {
    if (guardian === input) guardian = undefined;
  });
  // Neither keeps the worker's event loop alive: the guardian ends when the worker does.
  child.unref();
  input.unref();
  return input;
}

/** Kills the recorded task processes that are still the very processes recorded, with their groups. */
function reapLeftovers(dir: string): number[] {
  const reaped: number[] = [];
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    try {
      const identity = asIdentity(JSON.parse(readFileSync(file, 'utf8')));
      // Only a full identity (pid, boot, start time) is proof enough to kill anything.
      if (identity?.startTicks !== undefined && isRunning(identity)) {
        killProcessTree(identity.pid);
        reaped.push(identity.pid);
      }
    } catch {
      // Unreadable (a worker killed mid-write): nothing can be said about it.
    }
    rmSync(file, { force: true });
  }
  return reaped;
}
