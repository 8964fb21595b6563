/**
 * For `--install` / `--uninstall` tests on Linux: an environment whose home is a temp folder and
 * which reaches no user systemd (unless a fake `systemctl` is put first on PATH), and readers
 * of the unit file written there.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './worker.ts';

/**
 * process.env with HOME and XDG_CONFIG_HOME in a fresh temp folder and the user bus removed, so
 * a test never touches the real user's systemd. `fakeSystemctl` adds a `systemctl` first on PATH
 * that logs its arguments to `calls` and succeeds.
 */
export function loginEnv(options: { fakeSystemctl?: boolean } = {}): {
  env: NodeJS.ProcessEnv;
  home: string;
  unitFile: string;
  calls: () => string[];
} {
  const home = tempDir('hive-home-');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'cfg') };
  delete env.XDG_RUNTIME_DIR;
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const log = join(home, 'systemctl.log');
  if (options.fakeSystemctl === true) {
    const bin = join(home, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> '${log}'\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    env.PATH = `${bin}:${env.PATH ?? ''}`;
  }
  const calls = () => {
    try {
      return readFileSync(log, 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };
  return {
    env,
    home,
    unitFile: join(home, 'cfg', 'systemd', 'user', 'hive-worker.service'),
    calls,
  };
}

/** The program path of a unit's `ExecStart="…"` line, unescaped as systemd reads it. */
export function execStartPath(unitText: string): string | undefined {
  const quoted = unitText.match(/^ExecStart="((?:[^"\\]|\\.)*)"$/m)?.[1];
  return quoted?.replace(/\\(.)/g, '$1').replaceAll('%%', '%').replaceAll('$$', '$');
}

/**
 * `systemd-analyze verify --user` on a unit file: its problems (its output), '' when clean, or
 * undefined when systemd-analyze is not installed. It also checks that ExecStart is executable.
 */
export function verifyUnit(file: string): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status !== 0) {
    return undefined;
  }
  const runtime = tempDir('hive-runtime-');
  chmodSync(runtime, 0o700);
  const result = spawnSync('systemd-analyze', ['verify', '--user', file], {
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: runtime },
  });
  const said = `${result.stdout}${result.stderr}`.trim();
  return result.status === 0 ? said : said || `exit code ${result.status}`;
}
