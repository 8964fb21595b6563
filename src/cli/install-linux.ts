/**
 * Start at login on Linux: a systemd user unit in `$XDG_CONFIG_HOME/systemd/user/`, enabled into
 * default.target. ExecStart has no flags, so the token never shows in `ps`. Why each other line
 * reads as it does (KillMode=process, Restart=on-failure, no RestartPreventExitStatus=75):
 * docs/updating.md, "Started at login".
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HiveError } from '../platform/errors.ts';
import { type CommandResult, describeFailure, type LoginStartContext } from './login-start.ts';

export const UNIT_NAME = 'hive-worker.service';
/** Read by src/settings/load.ts (`supervisor`); the updater restarts UNIT_NAME when it is set. */
export const SUPERVISOR_MARKER = 'HIVE_SUPERVISOR=systemd';

/** Where the unit file goes: systemd's per-user search path that needs no root. */
export function unitPath(env: Readonly<Record<string, string | undefined>>): string {
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(configHome, 'systemd', 'user', UNIT_NAME);
}

/** The unit file's text for an executable at `executable` (an absolute path). */
export function unitFile(executable: string): string {
  if (!executable.startsWith('/') || /[\p{Cc}]/u.test(executable)) {
    throw new HiveError(
      'CONFIG',
      `Cannot write a systemd unit for ${JSON.stringify(executable)}: expected an absolute path without control characters`,
    );
  }
  return [
    '# Written by `worker --install`; removed by `worker --uninstall`.',
    '# Settings belong in worker.config.json beside the executable, not on this command line.',
    '[Unit]',
    'Description=Hive worker (The Hive distributed task system)',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${quoteExecPath(executable)}`,
    `WorkingDirectory=${escapeSpecifiers(dirname(executable))}`,
    `Environment=${SUPERVISOR_MARKER}`,
    'KillMode=process',
    'Restart=on-failure',
    'RestartSec=10',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/**
 * ExecStart's program: double-quoted, with systemd's C-style escapes and `%` doubled. `$` stays:
 * systemd expands variables in arguments only, not in the program path.
 */
function quoteExecPath(path: string): string {
  return `"${escapeSpecifiers(path.replaceAll('\\', '\\\\').replaceAll('"', '\\"'))}"`;
}

function escapeSpecifiers(text: string): string {
  return text.replaceAll('%', '%%');
}

export function installLinux(context: LoginStartContext): void {
  const file = unitPath(context.env);
  const text = unitFile(context.executable);
  const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (current === text) {
    context.say(`already installed: ${file}`);
  } else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    context.say(
      `${current === undefined ? 'installed' : 'updated'}: ${file} (starts ${context.executable} at login)`,
    );
  }
  const reload = systemctl(context, ['daemon-reload']);
  const enable = reload.status === 0 ? systemctl(context, ['enable', '--now', UNIT_NAME]) : reload;
  if (enable.status === 0) {
    context.say(`enabled and started: systemctl --user status ${UNIT_NAME}`);
    return;
  }
  // No user systemd here (a container, CI, an ssh session without a user bus): the unit is in
  // place; it takes effect when the user's systemd next reads it.
  context.say(`systemctl --user could not be reached (${describeFailure(enable)}).`);
  context.say(
    `To start it at login, run in your desktop session: systemctl --user daemon-reload && systemctl --user enable --now ${UNIT_NAME}`,
  );
}

export function uninstallLinux(context: LoginStartContext): void {
  const file = unitPath(context.env);
  if (!existsSync(file)) {
    context.say(`nothing to remove: ${file} does not exist`);
    return;
  }
  // Stops the worker the unit runs (SIGTERM: it drains), then forgets the unit.
  const disable = systemctl(context, ['disable', '--now', UNIT_NAME]);
  rmSync(file, { force: true });
  context.say(`removed: ${file}`);
  if (disable.status === 0) {
    systemctl(context, ['daemon-reload']);
    context.say(`disabled and stopped ${UNIT_NAME}`);
  } else {
    context.say(
      `systemctl --user could not be reached (${describeFailure(disable)}); if it runs in your desktop session, run there: systemctl --user disable --now ${UNIT_NAME}`,
    );
  }
}

function systemctl(context: LoginStartContext, args: string[]): CommandResult {
  return context.run('systemctl', ['--user', ...args]);
}
