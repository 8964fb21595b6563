/**
 * Update failures from the field, provoked for real on real binaries (Linux, as root):
 * - a rename refused during the swap: the installed executable is a bind mount of itself, so
 *   renaming it away fails with EBUSY (root ignores permissions; a mount point does not move);
 * - a disk that fills up during extraction: a small tmpfs is mounted where the release is
 *   extracted, while the data folder (where free space is checked) has plenty.
 * Either way the old version keeps working, one log line says what failed, and the version is
 * skipped for UPDATE_RETRY_AFTER. Mounting is required: without it these tests fail, they do not
 * skip (they would prove nothing).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAlive, readLock } from '../../src/platform/lock.ts';
import { readText, releaseKit, versionOf } from '../helpers/releases.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { readLogLines, startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

const kit = releaseKit('hive-field-');
const servers: TestServer[] = [];
const workers: WorkerProcess[] = [];

before(async () => {
  await kit.build('1.0.0');
  await kit.build('1.1.0');
});

after(async () => {
  for (const worker of workers) {
    await worker.stop('SIGKILL');
    // The worker the updater started again is detached from the test: stop it by its lock.
    const holder = readLock(worker.dataDir);
    if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
  }
  for (const server of servers) await server.close();
});

function mount(args: string[]): void {
  const result = spawnSync('mount', args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `mount ${args.join(' ')} failed (${(result.stderr || result.error?.message || '').trim()}): this test provokes the failure with a real mount and needs root in a system that allows mounting; it cannot run without one`,
    );
  }
}

function unmount(path: string): void {
  if (spawnSync('umount', [path]).status !== 0) spawnSync('umount', ['-l', path]);
}

const isMounted = (path: string) =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === path.replaceAll(' ', '\\040'));

/** Error-level lines of the worker's log that mention `version`. */
const errorsAbout = (dataDir: string, version: string) =>
  readLogLines(dataDir)
    .filter((line) => line.level >= 50 && line.msg.includes(version))
    .map((line) => line.msg);

async function serveRelease(version: string): Promise<TestServer> {
  const releasesDir = tempDir('hive-rel-');
  kit.release(version, releasesDir);
  const server = await startTestServer({ releasesDir });
  servers.push(server);
  return server;
}

function start(server: TestServer, exe: string, dataDir?: string): WorkerProcess {
  const worker = startWorker({
    serverUrl: server.url,
    command: { file: exe, args: [] },
    ...(dataDir === undefined ? {} : { dataDir }),
    env: { HIVE_UPDATE_HEALTH_TIMEOUT: '30', HIVE_UPDATE_CHECK_INTERVAL: '1' },
  });
  workers.push(worker);
  return worker;
}

describe('update failures provoked for real', () => {
  test('a rename refused during the swap: nothing changes, 1.0.0 runs on, 1.1.0 is skipped', async () => {
    const server = await serveRelease('1.1.0');
    const exe = kit.install('rename refused');
    mount(['--bind', exe, exe]);
    try {
      const v1 = start(server, exe);
      assert.equal((await v1.exitedWithin(60_000)).code, 0, v1.output());
      const updaterLog = join(v1.dataDir, 'logs', 'updater.log');
      await server.admin.waitFor(
        () => /nothing was changed\n.* started .*worker \(pid \d+\)/.test(readText(updaterLog)),
        90_000,
      );
      assert.match(
        readText(updaterLog),
        /update to 1\.1\.0 failed: could not move .*worker aside \(mv: cannot move .*: Device or resource busy\); nothing was changed/,
      );
      assert.equal(versionOf(exe), '1.0.0');
      assert.deepEqual(readdirSync(dirname(exe)), ['worker'], 'no backup, no leftover .new');

      // The old version, started again by the updater, says it in one line and works on.
      await server.admin.waitFor(() => errorsAbout(v1.dataDir, '1.1.0').length > 0, 15_000);
      await server.admin.enqueue({ id: 'after-refused-rename', type: 'echo', payload: 1 });
      const [result] = await waitForResults(server.admin, 'after-refused-rename', 1, 15_000);
      assert.equal(result?.body.workerVersion, '1.0.0');
      await server.admin.waitFor(
        () =>
          /release 1\.1\.0 failed before; not trying it again until/.test(
            readText(join(v1.dataDir, 'logs', 'worker.log')),
          ),
        15_000,
      );
      const errors = errorsAbout(v1.dataDir, '1.1.0');
      assert.equal(errors.length, 1, `one error line: ${errors.join('\n')}`);
      assert.match(
        errors[0] ?? '',
        /^the update to 1\.1\.0 was rolled back \(could not move .*Device or resource busy.*\); skipping it for a while$/,
      );
      assert.equal(readText(updaterLog).match(/installing 1\.1\.0/g)?.length, 1, 'one attempt');
    } finally {
      for (const worker of workers) {
        const holder = readLock(worker.dataDir);
        if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
      }
      unmount(exe);
    }
  });

  test('a full disk during extraction: nothing half-extracted is used, 1.0.0 runs on, 1.1.0 is skipped', async () => {
    const server = await serveRelease('1.1.0');
    const exe = kit.install('disk full');
    const dataDir = tempDir('hive-worker-');
    // The release is extracted into <data>/update/staging/release-<version>: 8 MB there, while
    // the data folder itself (where free space is checked, and the zip is downloaded) has plenty.
    const extractDir = join(dataDir, 'update', 'staging', 'release-1.1.0');
    mkdirSync(extractDir, { recursive: true });
    mount(['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', extractDir]);
    try {
      // Left there by an earlier run: pruned at start, though the folder itself cannot be removed.
      writeFileSync(join(extractDir, 'worker'), 'half an executable');
      const v1 = start(server, exe, dataDir);
      const workerLog = join(dataDir, 'logs', 'worker.log');
      await server.admin.waitFor(() => errorsAbout(dataDir, '1.1.0').length > 0, 60_000);
      const [line, ...more] = errorsAbout(dataDir, '1.1.0');
      assert.match(
        line ?? '',
        /^update to 1\.1\.0 not installed, staying on 1\.0\.0: release 1\.1\.0 could not be extracted into .*release-1\.1\.0: ENOSPC: no space left on device/,
      );
      assert.deepEqual(more, [], 'one error line');

      await server.admin.enqueue({ id: 'after-disk-full', type: 'echo', payload: 1 });
      const [result] = await waitForResults(server.admin, 'after-disk-full', 1, 15_000);
      assert.equal(result?.body.workerVersion, '1.0.0');
      await server.admin.waitFor(
        () => /release 1\.1\.0 failed before; not trying it again until/.test(readText(workerLog)),
        15_000,
      );
      assert.equal(v1.child.exitCode, null, 'still running');
      assert.doesNotMatch(v1.output(), /handed off/);
      assert.ok(!existsSync(join(dataDir, 'logs', 'updater.log')), 'no updater was started');
      assert.equal(versionOf(exe), '1.0.0');
      assert.equal(readText(workerLog).match(/downloading release 1\.1\.0 \(/g)?.length, 1);
      // Staging: the emptied mount point only — no partial files, and the zip of a release that
      // is skipped for hours is not kept.
      assert.deepEqual(readdirSync(extractDir), []);
      assert.deepEqual(readdirSync(dirname(extractDir)), ['release-1.1.0']);
      assert.ok(isMounted(extractDir), 'the mount was left alone');
      assert.equal(errorsAbout(dataDir, '1.1.0').length, 1, 'still one error line');
    } finally {
      for (const worker of workers) await worker.stop('SIGKILL');
      unmount(extractDir);
    }
  });
});
