/**
 * Hands off to the NEW release's updater script, detached so it outlives this process, then the
 * worker exits. The updater waits for our pid, swaps the executable (one backup kept), starts the
 * new one — or, under the systemd unit, has systemd restart the unit — and rolls back if it does
 * not report healthy in time (updater/).
 */
import { spawn } from 'node:child_process';
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
  healthTimeoutSec: number;
  /** `systemd`: the updater restarts the unit instead of starting the executable itself. */
  supervisor: Supervisor;
  /** The new worker inherits this: settings given as flags are carried as HIVE_* variables. */
  env: NodeJS.ProcessEnv;
}

/**
 * The argument order both updater scripts read. The seventh, the supervisor, is passed only when
 * there is one (updater.sh reads it; on Windows there never is one), so without a supervisor the
 * updater is called exactly as before.
 */
export function updaterArguments(args: HandoffArgs): string[] {
  return [
    String(args.pid),
    args.targetExe,
    args.newExe,
    args.dataDir,
    args.version,
    String(args.healthTimeoutSec),
    ...(args.supervisor === 'none' ? [] : [args.supervisor]),
  ];
}

export function startUpdater(args: HandoffArgs): number | undefined {
  const argv = updaterArguments(args);
  const child =
    process.platform === 'win32'
      ? // A .bat cannot be spawned without cmd.exe (CVE-2024-27980); /s strips the outer quotes.
        spawn(
          args.env.ComSpec ?? 'cmd.exe',
          ['/d', '/s', '/c', `"${[args.updater, ...argv].map(quoteForCmd).join(' ')}"`],
          {
            detached: true,
            stdio: 'ignore',
            windowsHide: true,
            windowsVerbatimArguments: true,
            env: args.env,
          },
        )
      : spawn('/bin/sh', [args.updater, ...argv], {
          detached: true,
          stdio: 'ignore',
          env: args.env,
        });
  child.unref();
  return child.pid;
}

function quoteForCmd(value: string): string {
  if (/["%^&|<>\r\n]/.test(value))
    throw new Error(`cannot pass ${JSON.stringify(value)} to updater.bat safely`);
  return `"${value}"`;
}
