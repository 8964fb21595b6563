/**
 * A stand-in for `systemctl --user`, for the one unit `worker --install` writes. It exists because
 * systemd cannot run here: PID 1 of this container is not systemd, so there is no user manager
 * and `systemctl --user` cannot work. What it emulates, and nothing more:
 * - `start` / `enable --now`: runs the unit's ExecStart (from the unit file) in WorkingDirectory,
 *   with the unit's `Environment=` lines and an INVOCATION_ID added to the caller's environment
 *   (standing in for the user manager's), detached, output appended to `journal.log`. A parent
 *   shell waits for it — as systemd reaps its main process (PID 1 here reaps nothing) — and
 *   records its exit there. The pid is the unit's MainPID (`main.pid`) and a line in `starts.log`.
 * - `stop` / `disable --now`: SIGTERM to the main process only (KillMode=process), then waits for
 *   it to exit (SIGKILL after 90 s, systemd's default TimeoutStopSec).
 * - `restart`: stop, then start. `show --property=MainPID --value`: the pid, or 0.
 * - `daemon-reload`, `enable`, `disable`: succeed. Every call is appended to `calls.log`.
 * Not emulated: Restart=on-failure (nothing restarts a main process that dies), start limits,
 * dependencies, the user manager's own environment. ExecStart and Environment= are read simply:
 * the test's paths and values hold no quotes, backslashes or spaces inside Environment=.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SystemdStandIn {
  /** Folder to put first on PATH. */
  bin: string;
  /** The arguments of every call, one string each (`--user restart hive-worker.service`). */
  calls(): string[];
  /** Pids of the main processes the stand-in started, in order. */
  starts(): number[];
  /** The unit's main process if it runs, else undefined. */
  mainPid(): number | undefined;
  /** What the main processes printed, and their exits. */
  journal(): string;
}

const SCRIPT = readFileSync(
  fileURLToPath(new URL('systemctl-standin.sh', import.meta.url)),
  'utf8',
);

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** Writes the stand-in into `<home>/standin-systemd/bin/systemctl` for the unit at `unitFile`. */
export function systemdStandIn(home: string, unitFile: string): SystemdStandIn {
  const state = join(home, 'standin-systemd');
  const bin = join(state, 'bin');
  mkdirSync(bin, { recursive: true });
  const script = SCRIPT.replace('__STATE__', quote(state)).replace(
    '__UNIT_FILE__',
    quote(unitFile),
  );
  writeFileSync(join(bin, 'systemctl'), script);
  chmodSync(join(bin, 'systemctl'), 0o755);
  const lines = (name: string) => {
    const file = join(state, name);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  };
  return {
    bin,
    calls: () => lines('calls.log'),
    starts: () => lines('starts.log').map(Number),
    mainPid() {
      const pid = Number(lines('main.pid')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      try {
        process.kill(pid, 0);
        return pid;
      } catch {
        return undefined;
      }
    },
    journal: () => lines('journal.log').join('\n'),
  };
}
