/** What both login-start installers share, kept out of install.ts so neither imports its chooser. */
import { spawnSync } from 'node:child_process';

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

/** One line about a program that failed: what it printed, or why it could not run. */
export function describeFailure(result: CommandResult): string {
  if (result.error !== undefined) return result.error.message;
  const said = `${result.stderr}\n${result.stdout}`.trim().split(/\r?\n/)[0] ?? '';
  return `exit code ${result.status}${said === '' ? '' : `: ${said}`}`;
}
