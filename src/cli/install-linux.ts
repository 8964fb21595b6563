/**
 * Start at login on Linux: a systemd user unit, `$XDG_CONFIG_HOME/systemd/user/hive-worker.service`
 * (default `~/.config/systemd/user/`), enabled into the user's default.target.
 *
 * Why the unit reads as it does (docs/updating.md, "Started at login"):
 * - ExecStart is the executable alone, no flags: settings (the token above all) live in
 *   worker.config.json beside it, never on a command line that `ps` shows to every user.
 * - Environment=HIVE_SUPERVISOR=systemd tells the worker that systemd runs it; it passes that on
 *   to the updater at a self-update, so the new version comes back under the unit (below).
 * - KillMode=process: a stop or restart of the unit signals the worker only. The default
 *   (control-group) would also kill the detached updater, which runs in the unit's control group
 *   and itself restarts the unit in the middle of an update.
 * - Restart=on-failure, not always: after the hand-off the old worker exits 0 and the unit goes
 *   inactive; an automatic restart then would race the updater's swap and the data folder's lock.
 * - No RestartPreventExitStatus=75: exit 75 ("another worker holds the data folder") IS retried,
 *   every RestartSec. Since the lock judges its holder by pid + boot id + start time, 75 means a
 *   worker really runs there (one started by hand, say); retrying quietly every 10 s lets the
 *   unit take over once that one stops, where preventing the restart kept the desktop without a
 *   worker until the next login — and, with the pid-only lock of old, for good after a reboot
 *   gave the recorded pid to another process. systemd's start limit (5 starts in 10 s) is never
 *   reached at one start per 10 s.
 *
 * A self-update under the unit, step by step:
 * 1. The worker drains, starts the updater detached with `systemd` as its last argument, exits 0.
 *    Exit 0 is not a failure: systemd does not restart the unit; it goes inactive, and with
 *    KillMode=process it leaves the updater (still in its control group) alone.
 * 2. The updater waits for the old pid to exit — so the lock is free — and swaps the executable.
 * 3. `systemctl --user restart hive-worker.service`: `restart`, not `start`, so anything systemd
 *    may have started meanwhile (a user's `start`, an on-failure restart had the old worker
 *    crashed) is stopped, and its lock released, before the swapped executable runs as the
 *    unit's main process. systemd starts it with the unit's environment, not the updater's.
 * 4. The updater takes the unit's MainPID and waits for the health marker as without systemd.
 * 5. Rollback: `systemctl --user stop` first (it ends a pending on-failure restart of the new
 *    version, so nothing runs the executable while the backup is moved back), restore the backup,
 *    `systemctl --user restart` again: the old version, under the unit.
 * If systemctl fails, the updater starts the executable directly (outside the unit) rather than
 * leave the desktop without a worker.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { HiveError } from '../platform/errors.ts';
import { type CommandResult, describeFailure, type LoginStartContext } from './install.ts';

export const UNIT_NAME = 'hive-worker.service';
/** Read by src/settings.ts (`supervisor`); the updater restarts UNIT_NAME when it is set. */
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
    // The worker tells the updater to restart this unit rather than start the executable itself.
    `Environment=${SUPERVISOR_MARKER}`,
    // The updater (started detached by the worker) must outlive a stop or restart of the unit.
    'KillMode=process',
    'Restart=on-failure',
    // Exit 75 (the data folder is locked) is retried too: see the header.
    'RestartSec=10',
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n');
}

/**
 * ExecStart's program: double-quoted, with systemd's C-style escapes and `%` doubled. `$` stays:
 * systemd expands variables in arguments only, not in the program path (checked with
 * systemd-analyze verify, which reads `$$` there literally).
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
