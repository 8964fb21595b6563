/**
 * Self-update on real binaries (Linux): a worker built as 1.0.0 updates itself to 1.1.0 through the
 * reference server and updater.sh, in an install folder whose path has spaces and non-ASCII letters;
 * a 1.2.0 that does not come up is rolled back and not tried again within the window.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAlive, readLock } from '../../src/platform/lock.ts';
import { execStartPath, loginEnv } from '../helpers/login-start.ts';
import { isProxied, PASSWORD, startProxy } from '../helpers/proxy.ts';
import { readText, releaseKit, versionOf } from '../helpers/releases.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

const kit = releaseKit('hive-selfupdate-');
const { release, install } = kit;

before(async () => {
  await kit.build('1.0.0');
  await kit.build('1.1.0');
  await kit.build('1.2.0', 'test/fixtures/broken-entry.ts');
});

const started: WorkerProcess[] = [];

after(async () => {
  for (const worker of started) await worker.stop('SIGKILL');
  // Workers started by the updater are detached from the test: stop them by their lock.
  for (const { dataDir } of started) {
    const holder = readLock(dataDir);
    if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
  }
});

describe('self-update with real binaries', () => {
  let server: TestServer;
  const servers: TestServer[] = [];
  /** A reference server for one test; every one is closed after the last test, pass or fail. */
  async function serve(options: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
    server = await startTestServer(options);
    servers.push(server);
    return server;
  }
  after(async () => {
    for (const one of servers) await one.close();
  });
  /** Version 1.0.0 started from `exe` against this test's server; stopped after the last test. */
  function startInstalled(exe: string, env: Record<string, string>): WorkerProcess {
    const worker = startWorker({ serverUrl: server.url, command: { file: exe, args: [] }, env });
    started.push(worker);
    return worker;
  }

  test('1.0.0 → 1.1.0: downloads, swaps, restarts and carries on; nothing lost', async () => {
    const releasesDir = tempDir('hive-rel-');
    release('1.1.0', releasesDir);
    await serve({ releasesDir });
    const exe = install('Hive Wörker dir');
    // Started at login by a systemd user unit (written here; no user systemd in tests).
    const login = loginEnv();
    execFileSync(exe, ['--install'], { env: login.env });
    for (let i = 0; i < 3; i++)
      await server.admin.enqueue({ id: `before-${i}`, type: 'sleep', payload: { ms: 300 } });
    const v1 = startInstalled(exe, { HIVE_UPDATE_HEALTH_TIMEOUT: '30' });
    const exit = await v1.exitedWithin(60_000);
    assert.equal(exit.code, 0, v1.output());
    assert.match(v1.output(), /handed off to the updater .* to install 1\.1\.0; exiting/);
    const updaterLog = join(v1.dataDir, 'logs', 'updater.log');
    await server.admin.waitFor(
      () => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)),
      30_000,
    );
    // No supervisor marker (not started by the unit): the updater starts the new version itself.
    assert.match(readText(updaterLog), /^\S+ updater\[\d+\] started .*worker \(pid \d+\)$/m);
    assert.doesNotMatch(readText(updaterLog), /hive-worker\.service/);
    assert.equal(versionOf(exe), '1.1.0');
    assert.equal(versionOf(`${exe}.old`), '1.0.0', 'exactly one backup, the previous version');
    // The swap kept the path: the unit written by 1.0.0 starts 1.1.0 at the next login.
    const atLogin = execStartPath(readFileSync(login.unitFile, 'utf8')) ?? '';
    assert.equal(atLogin, exe);
    assert.equal(versionOf(atLogin), '1.1.0');
    for (let i = 0; i < 3; i++)
      await server.admin.enqueue({ id: `after-${i}`, type: 'echo', payload: i });
    const results = await server.admin.waitFor(async () => {
      const { results } = await server.admin.results();
      return results.length === 6 ? results : undefined;
    }, 30_000);
    const byTask = new Map(results.map((result) => [result.taskId, result.body.workerVersion]));
    assert.equal(byTask.size, 6, 'every task stored exactly once');
    for (let i = 0; i < 3; i++) assert.equal(byTask.get(`after-${i}`), '1.1.0');
    const workerLog = readText(join(v1.dataDir, 'logs', 'worker.log'));
    assert.match(workerLog, /updated from 1\.0\.0 to 1\.1\.0: healthy/);
  });

  test('1.2.0 does not come up: rolled back to 1.0.0, which keeps working and skips 1.2.0', async () => {
    const releasesDir = tempDir('hive-rel-');
    release('1.2.0', releasesDir);
    await serve({ releasesDir });
    const exe = install('rollback dir');
    const v1 = startInstalled(exe, { HIVE_UPDATE_HEALTH_TIMEOUT: '10' });
    assert.equal((await v1.exitedWithin(60_000)).code, 0, v1.output());
    const updaterLog = join(v1.dataDir, 'logs', 'updater.log');
    await server.admin.waitFor(
      () => /rolled back to the previous version/.test(readText(updaterLog)),
      30_000,
    );
    assert.match(readText(updaterLog), /1\.2\.0 exited before reporting healthy/);
    assert.equal(versionOf(exe), '1.0.0');
    const workerLog = join(v1.dataDir, 'logs', 'worker.log');
    await server.admin.waitFor(
      () => /the update to 1\.2\.0 was rolled back/.test(readText(workerLog)),
      15_000,
    );
    await server.admin.enqueue({ id: 'after-rollback', type: 'echo', payload: 'still here' });
    const task = await server.admin.waitFor(async () => {
      const found = await server.admin.task('after-rollback');
      return found.results.length > 0 ? found : undefined;
    }, 15_000);
    assert.equal(task.results[0]?.body.workerVersion, '1.0.0');
    assert.match(readText(workerLog), /release 1\.2\.0 failed before; not trying it again until/);
    assert.equal(readText(updaterLog).match(/installing 1\.2\.0/g)?.length, 1, 'one attempt only');
  });

  test('a slow download never stops tasks; five updates in a row leave the folders bounded', async () => {
    const releasesDir = tempDir('hive-rel-');
    await serve({ releasesDir });
    const exe = install('five updates');
    const versions = ['2.0.0', '2.1.0', '2.2.0', '2.3.0', '2.4.0'];
    for (const version of versions) await kit.build(version);
    // The first download is slow: the server holds the zip for 4 s while tasks keep coming.
    await server.admin.faults([{ route: 'releases', delayMs: 4000 }]);
    release('2.0.0', releasesDir);
    const v1 = startInstalled(exe, {
      HIVE_UPDATE_HEALTH_TIMEOUT: '30',
      HIVE_UPDATE_CHECK_INTERVAL: '1',
    });
    await v1.waitForOutput(/downloading release 2\.0\.0/);
    for (let i = 0; i < 3; i++)
      await server.admin.enqueue({ id: `during-download-${i}`, type: 'echo', payload: i });
    const during = await waitForResults(server.admin, 'during-download-', 3, 20_000);
    assert.ok(
      during.every((result) => result.body.workerVersion === '1.0.0'),
      'the tasks ran on 1.0.0 while its update was downloading',
    );
    assert.equal(v1.child.exitCode, null, 'the download had not finished yet');

    const updaterLog = join(v1.dataDir, 'logs', 'updater.log');
    const footprints: Array<{ files: number; bytes: number; install: string[] }> = [];
    for (const [i, version] of versions.entries()) {
      if (i > 0) release(version, releasesDir);
      await server.admin.waitFor(
        () => new RegExp(`${version.replaceAll('.', '\\.')} is healthy`).test(readText(updaterLog)),
        60_000,
      );
      assert.equal(versionOf(exe), version);
      footprints.push({ ...folderSize(v1.dataDir), install: readdirSync(dirname(exe)).sort() });
    }
    for (const footprint of footprints)
      assert.deepEqual(footprint.install, ['worker', 'worker.old']);
    const [, second, , , fifth] = footprints;
    assert.ok(second !== undefined && fifth !== undefined);
    assert.ok(
      fifth.files <= second.files + 2,
      `data folder files stay bounded: ${JSON.stringify(footprints)}`,
    );
    // Bounded by one staged release (removed at the next start), not by the number of updates.
    assert.ok(
      fifth.bytes <= second.bytes + 64 * 1024 * 1024,
      `data folder size stays bounded: ${JSON.stringify(footprints)}`,
    );
  });

  test('behind a proxy the server requires: tasks and the update all go through it', async () => {
    const releasesDir = tempDir('hive-rel-');
    release('1.1.0', releasesDir);
    let direct = 0;
    await serve({
      releasesDir,
      onlyFrom: (req) => {
        if (/\/admin\//.test(req.url ?? '') || isProxied(req)) return true;
        direct += 1;
        return false;
      },
    });
    const { proxy, port, requests } = await startProxy();
    try {
      const exe = install('behind a proxy');
      await server.admin.enqueue({ id: 'proxied-before', type: 'echo', payload: 1 });
      const v1 = startInstalled(exe, {
        HIVE_PROXY: `http://hive:${PASSWORD}@127.0.0.1:${port}`,
        HIVE_UPDATE_HEALTH_TIMEOUT: '30',
      });
      assert.equal((await v1.exitedWithin(60_000)).code, 0, v1.output());
      const updaterLog = join(v1.dataDir, 'logs', 'updater.log');
      await server.admin.waitFor(
        () => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)),
        30_000,
      );
      await server.admin.enqueue({ id: 'proxied-after', type: 'echo', payload: 2 });
      const afterUpdate = await server.admin.waitFor(async () => {
        const task = await server.admin.task('proxied-after');
        return task.results.length > 0 ? task : undefined;
      }, 15_000);
      assert.equal(afterUpdate.results[0]?.body.workerVersion, '1.1.0');
      assert.equal((await server.admin.task('proxied-before')).results.length, 1);
      assert.equal(direct, 0, 'the server saw no direct request');
      assert.ok(
        requests.some((line) => /GET \S*worker-1\.1\.0-linux-x64\.zip/.test(line)),
        'the zip came through the proxy',
      );
      assert.ok(
        !readText(join(v1.dataDir, 'logs', 'worker.log')).includes(PASSWORD),
        'no proxy password in the log',
      );
    } finally {
      // Keep-alive connections would hold this process open after the last test.
      proxy.closeAllConnections();
      proxy.close();
    }
  });
});

function folderSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    files += 1;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}
