/**
 * Self-update of a worker that the systemd user unit runs (Linux, real binaries): `worker
 * --install` writes the unit and starts 1.0.0 through it; at the update the updater swaps the
 * executable and has systemd restart the unit, so 1.1.0 runs under the unit too; a 1.2.0 that
 * exits at once is rolled back and the unit restarted on 1.0.0.
 *
 * systemd itself cannot run here (PID 1 of this container is not systemd, so `systemctl --user`
 * has no manager to talk to): a stand-in `systemctl` first on PATH plays the user manager for this
 * one unit — it starts the unit's ExecStart with its Environment=, tracks the main pid, stops it
 * like KillMode=process and records every call (test/helpers/systemd-standin.ts). Everything
 * else is real: the built executables, the reference server, updater.sh, the signed releases.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { readLock } from '../../src/platform/lock.ts';
import { loginEnv } from '../helpers/login-start.ts';
import { readText, releaseKit, versionOf } from '../helpers/releases.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { type SystemdStandIn, systemdStandIn } from '../helpers/systemd-standin.ts';
import { FAST_SETTINGS, tempDir } from '../helpers/worker.ts';

const kit = releaseKit('hive-supervised-');
const servers: TestServer[] = [];
const dataDirs: string[] = [];
const standIns: SystemdStandIn[] = [];

before(async () => {
  await kit.build('1.0.0');
  await kit.build('1.1.0');
  await kit.build('1.2.0', 'test/fixtures/broken-entry.ts');
});

after(async () => {
  // An updater still running (a failed test) would start workers after the test process ends.
  for (const dataDir of dataDirs) {
    for (const match of readText(join(dataDir, 'logs', 'updater.log')).matchAll(
      /updater\[(\d+)\]/g,
    ))
      killIfOurs(Number(match[1]), dataDir);
  }
  await delay(1000); // a start the stand-in had begun for it
  for (const pid of standIns.flatMap((standIn) => standIn.starts())) killIfOurs(pid, kit.work);
  // A worker the updater started outside the unit (a failed test) holds the data folder's lock.
  for (const dataDir of dataDirs) killIfOurs(readLock(dataDir)?.pid ?? 0, kit.work);
  for (const server of servers) await server.close();
});

/** SIGKILL to `pid` if it still runs something under `folder` (a pid is never reused blindly). */
function killIfOurs(pid: number, folder: string): void {
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(folder)) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * A reference server offering `version`, and 1.0.0 installed and started at login through the
 * stand-in systemd: `worker --install` → `systemctl --user enable --now`.
 */
async function installUnderSystemd(version: string, name: string, healthTimeoutSec: number) {
  const releasesDir = tempDir('hive-rel-');
  kit.release(version, releasesDir);
  const server = await startTestServer({ releasesDir });
  servers.push(server);
  const exe = kit.install(name);
  const login = loginEnv();
  const systemd = systemdStandIn(login.home, login.unitFile);
  standIns.push(systemd);
  const dataDir = tempDir('hive-worker-');
  dataDirs.push(dataDir);
  // Standing in for the user manager's environment: the settings a worker.config.json would hold.
  const env = {
    ...login.env,
    ...FAST_SETTINGS,
    HIVE_SERVER_URL: server.url,
    HIVE_DATA_DIR: dataDir,
    HIVE_UPDATE_HEALTH_TIMEOUT: String(healthTimeoutSec),
    PATH: `${systemd.bin}:${login.env.PATH ?? ''}`,
  };
  return { server, exe, login, systemd, dataDir, env };
}

/** The environment a process was started with, as NAME=value strings. */
function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

describe('self-update under the systemd user unit', () => {
  test('1.0.0 → 1.1.0: the updater restarts the unit, 1.1.0 runs under it, nothing lost', async () => {
    const { server, exe, systemd, dataDir, env } = await installUnderSystemd(
      '1.1.0',
      'Hive Wörker unit',
      30,
    );
    for (let i = 0; i < 3; i++)
      await server.admin.enqueue({ id: `before-${i}`, type: 'sleep', payload: { ms: 300 } });
    const installed = spawnSync(exe, ['--install'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(installed.status, 0, installed.stderr);
    assert.match(installed.stdout, /enabled and started: systemctl --user status hive-worker/);
    const [first] = systemd.starts();
    assert.ok(first !== undefined, 'the stand-in started 1.0.0');
    assert.ok(environOf(first).includes('HIVE_SUPERVISOR=systemd'), 'the unit sets the marker');

    const updaterLog = join(dataDir, 'logs', 'updater.log');
    await server.admin.waitFor(
      () => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)),
      60_000,
    );
    const workerLog = readText(join(dataDir, 'logs', 'worker.log'));
    assert.match(
      workerLog,
      /handed off to the updater \(pid \d+, which restarts the systemd unit\)/,
    );
    assert.match(workerLog, /started by the systemd user unit/, 'the banner says so');
    assert.ok(
      systemd.calls().includes('--user restart hive-worker.service'),
      `the updater restarted the unit; calls:\n${systemd.calls().join('\n')}`,
    );
    // Started through the unit, not by the updater: the stand-in's second start is the worker.
    const starts = systemd.starts();
    assert.equal(starts.length, 2, `two starts through the unit: ${starts.join(', ')}`);
    const restarted = Number(
      /restarted hive-worker\.service: .* \(pid (\d+)\)/.exec(readText(updaterLog))?.[1],
    );
    assert.equal(restarted, starts[1]);
    assert.equal(systemd.mainPid(), starts[1], 'the unit main process runs');
    assert.equal(readLock(dataDir)?.pid, starts[1], 'and it is the worker holding the data folder');
    assert.doesNotMatch(readText(updaterLog), /^\S+ updater\[\d+\] started /m, 'it ran no exe');
    assert.ok(environOf(starts[1] ?? 0).includes('HIVE_SUPERVISOR=systemd'));
    assert.equal(versionOf(exe), '1.1.0');
    assert.equal(versionOf(`${exe}.old`), '1.0.0');

    for (let i = 0; i < 3; i++)
      await server.admin.enqueue({ id: `after-${i}`, type: 'echo', payload: i });
    const afterUpdate = await waitForResults(server.admin, 'after-', 3, 30_000);
    assert.ok(afterUpdate.every((result) => result.body.workerVersion === '1.1.0'));
    const { results } = await server.admin.results();
    const byTask = new Map(results.map((result) => [result.taskId, result.body.workerVersion]));
    assert.equal(results.length, 6, 'every task stored once');
    assert.equal(byTask.size, 6, 'every task stored exactly once');
  });

  test('1.2.0 exits at once: rolled back, the unit restarted on 1.0.0, which keeps working', async () => {
    const { server, exe, systemd, dataDir, env } = await installUnderSystemd(
      '1.2.0',
      'rollback unit',
      10,
    );
    const installed = spawnSync(exe, ['--install'], { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(installed.status, 0, installed.stderr);
    const updaterLog = join(dataDir, 'logs', 'updater.log');
    await server.admin.waitFor(
      () =>
        /rolled back to the previous version\n.* restarted hive-worker\.service/.test(
          readText(updaterLog),
        ),
      60_000,
    );
    assert.match(readText(updaterLog), /1\.2\.0 exited before reporting healthy/);
    assert.deepEqual(
      systemd.calls().filter((call) => !/^--user (show|daemon-reload)/.test(call)),
      [
        '--user enable --now hive-worker.service',
        '--user restart hive-worker.service', // 1.2.0, which exits at once
        '--user stop hive-worker.service', // before the backup is moved back
        '--user restart hive-worker.service', // 1.0.0 again
      ],
    );
    assert.match(systemd.journal(), /this build exits at once/);
    const starts = systemd.starts();
    assert.equal(starts.length, 3, `1.0.0, 1.2.0, 1.0.0: ${starts.join(', ')}`);
    assert.equal(systemd.mainPid(), starts[2], 'the unit runs the restored version');
    assert.equal(versionOf(exe), '1.0.0');

    const workerLog = join(dataDir, 'logs', 'worker.log');
    await server.admin.waitFor(
      () => /the update to 1\.2\.0 was rolled back/.test(readText(workerLog)),
      15_000,
    );
    assert.equal(readLock(dataDir)?.pid, starts[2]);
    await server.admin.enqueue({ id: 'after-rollback', type: 'echo', payload: 'still here' });
    const [result] = await waitForResults(server.admin, 'after-rollback', 1, 15_000);
    assert.equal(result?.body.workerVersion, '1.0.0');
  });
});
