/**
 * `worker --install` / `worker --uninstall`: start the worker when the user logs in — per user,
 * no admin rights. Linux: a systemd user unit (install-linux.ts); Windows: the HKCU Run key
 * (install-windows.ts). Both are idempotent and say, one line each, what they did.
 *
 * Only the single executable installs itself: from source the command would name a Node binary
 * inside node_modules and a checkout, which `npm ci` or a `git clean` can pull away — and
 * self-update works only in the executable anyway.
 */
import { spawnSync } from 'node:child_process';
import { HiveError } from '../platform/errors.ts';
import { installLinux, uninstallLinux } from './install-linux.ts';
import { installWindows, uninstallWindows } from './install-windows.ts';

export type LoginStartAction = 'install' | 'uninstall';

export interface CommandResult {
  /** Exit code; null when the program could not be started or timed out (see `error`). */
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

/** Runs a program without a shell and waits for it. */
export type RunCommand = (file: string, args: readonly string[]) => CommandResult;

export interface LoginStartContext {
  /** Absolute path of the executable started at login (process.execPath in the executable). */
  executable: string;
  env: Readonly<Record<string, string | undefined>>;
  run: RunCommand;
  /** Prints one line for the user. */
  say: (line: string) => void;
}

/** The program spawner used outside tests: no shell, a timeout, no window on Windows. */
export const runCommand: RunCommand = (file, args) => {
  const result = spawnSync(file, [...args], {
    shell: false,
    encoding: 'utf8',
    timeout: 30_000,
    windowsHide: true,
  });
  return {
    status: result.status,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    ...(result.error === undefined ? {} : { error: result.error }),
  };
};

/** Installs or removes the start at login for this platform. Throws a HiveError it cannot. */
export function changeLoginStart(
  action: LoginStartAction,
  context: LoginStartContext,
  platform: NodeJS.Platform = process.platform,
): void {
  if (platform === 'linux') {
    if (action === 'install') installLinux(context);
    else uninstallLinux(context);
  } else if (platform === 'win32') {
    if (action === 'install') installWindows(context);
    else uninstallWindows(context);
  } else {
    throw new HiveError(
      'CONFIG',
      `--${action} supports Linux (systemd) and Windows only, not ${platform}`,
    );
  }
}

/** One line about a program that failed: what it printed, or why it could not run. */
export function describeFailure(result: CommandResult): string {
  if (result.error !== undefined) return result.error.message;
  const said = `${result.stderr}\n${result.stdout}`.trim().split(/\r?\n/)[0] ?? '';
  return `exit code ${result.status}${said === '' ? '' : `: ${said}`}`;
}
