/**
 * Hands off to the NEW release's updater (updater/), detached: it waits for our exit, swaps the
 * executable and rolls back if the new one is not healthy in time. In a terminal the worker becomes
 * the updater instead (process.execve, so Ctrl+C still reaches it; docs/updating.md).
 */
import { spawn } from 'node:child_process';
import { isatty } from 'node:tty';
import type { Supervisor } from '../settings/load.ts';

export interface HandoffArgs {
  /** updater.sh / updater.bat from the extracted release. */
  updater: string;
  /** The running worker's pid: the updater waits for it to exit. */
  pid: number;
  /** The installed executable to replace (this process's executable). */
  targetExe: string;
  /** The verified new executable, in staging. */
  newExe: string;
  dataDir: string;
  version: string;
  /** How long the new version has to report healthy before the updater rolls back. */
  healthTimeoutMs: number;
  /** `systemd`: the updater restarts the unit instead of starting the executable itself. */
  supervisor: Supervisor;
  /** The new worker inherits this: settings given as flags are carried as HIVE_* variables. */
  env: NodeJS.ProcessEnv;
}

/**
 * What the updater is told, as environment variables: a value cmd.exe never parses, so any path
 * works. The updaters also read them as arguments, in this order, from a worker that predates them.
 */
export function updaterEnvironment(args: HandoffArgs): Record<string, string> {
  return {
    HIVE_UPDATER_PID: String(args.pid),
    HIVE_UPDATER_TARGET: args.targetExe,
    HIVE_UPDATER_NEW: args.newExe,
    HIVE_UPDATER_DATA: args.dataDir,
    HIVE_UPDATER_VERSION: args.version,
    // The updater counts seconds.
    HIVE_UPDATER_HEALTH_TIMEOUT: String(Math.ceil(args.healthTimeoutMs / 1000)),
    // `systemd`: updater.sh restarts the unit; `terminal`: it runs in this process, in the
    // terminal (inTerminal below); on Windows there never is a supervisor.
    HIVE_UPDATER_SUPERVISOR: inTerminal(args) ? 'terminal' : args.supervisor,
    HIVE_UPDATER_SCRIPT: args.updater,
  };
}

/**
 * On Windows, cmd.exe's command line holds no path at all, only a variable: cmd expands
 * `%HIVE_UPDATER_SCRIPT%` once, inside quotes (so `&`, `^`, `(` are plain text), and does not
 * expand the result again. Node spawns a .bat only through cmd.exe; /s strips
 * the outer pair of quotes, /v:off keeps `!` plain, /d skips AutoRun commands.
 */
export const WINDOWS_UPDATER_COMMAND = ['/d', '/v:off', '/s', '/c', '""%HIVE_UPDATER_SCRIPT%""'];

/**
 * Whether the updater takes this process over as it exits (see the top): a person is following
 * it in a terminal, and nothing else (systemd) restarts it.
 */
export function inTerminal(args: Pick<HandoffArgs, 'supervisor'>): boolean {
  return (
    process.platform !== 'win32' &&
    args.supervisor === 'none' &&
    typeof process.execve === 'function' &&
    isatty(0)
  );
}

/** Starts the updater (or arranges for this process to become it); returns its pid. */
export function startUpdater(args: HandoffArgs): number | undefined {
  const env = { ...args.env, ...updaterEnvironment(args) };
  if (inTerminal(args)) {
    // Last, once everything has run down (the lock released, the log flushed): nothing of this
    // process survives execve but its pid and its standard streams.
    process.once('exit', () => becomeUpdater(args, env));
    return process.pid;
  }
  return startDetached(args, env);
}

function becomeUpdater(args: HandoffArgs, env: NodeJS.ProcessEnv): void {
  try {
    process.execve?.('/bin/sh', ['/bin/sh', args.updater], stringsOnly(env));
  } catch {
    // execve failed (no /bin/sh?): this process goes on, so the detached updater takes over.
  }
  startDetached(args, { ...env, HIVE_UPDATER_SUPERVISOR: args.supervisor });
}

function stringsOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}

function startDetached(args: HandoffArgs, env: NodeJS.ProcessEnv): number | undefined {
  const child =
    process.platform === 'win32'
      ? spawn(args.env.ComSpec ?? 'cmd.exe', WINDOWS_UPDATER_COMMAND, {
          detached: true,
          stdio: 'ignore',
          windowsHide: true,
          windowsVerbatimArguments: true,
          env,
        })
      : spawn('/bin/sh', [args.updater], { detached: true, stdio: 'ignore', env });
  child.unref();
  return child.pid;
}
