/**
 * Any install path (issue 14.7): the hand-off (src/update/handoff.ts) gives updater.sh its paths as
 * environment variables, so a folder named with `&`, `%`, `^`, `!`, parentheses, spaces, quotes,
 * `$(…)` and non-ASCII letters is installed into like any other. Real parts: the built worker
 * executables (1.0.0 and 1.1.0), the real updater.sh, the reference server; the new version reports
 * healthy through it. updater.bat gets the same under Wine (test/windows/self-update.e2e.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import { isAlive, readLock } from '../../src/platform/lock.ts';
import { startUpdater } from '../../src/update/handoff.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { readText, versionOf } from '../helpers/releases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { FAST_SETTINGS, tempDir } from '../helpers/worker.ts';

/** Every character the issue names, plus what a POSIX shell would trip on. */
export const HOSTILE_NAME = "R&D Lab 100%PATH% ^x! (test) Wörker $(id) 'q'";

let server: TestServer;
let dataDir = '';
before(async () => {
  server = await startTestServer();
});
after(async () => {
  const holder = dataDir === '' ? undefined : readLock(dataDir);
  if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
  await server?.close();
});

test('1.0.0 → 1.1.0 through updater.sh in a folder named with & % ^ ! ( ) quotes $(…) and ö', async () => {
  const [old, next] = [await builtWorker(), await builtWorker({ version: '1.1.0' })];
  const installDir = join(tempDir('hive-anypath-'), HOSTILE_NAME);
  dataDir = join(installDir, 'data');
  const staging = join(dataDir, 'update', `staging ${HOSTILE_NAME}`);
  mkdirSync(staging, { recursive: true });
  const target = join(installDir, 'worker');
  copyFileSync(old, target);
  const newExe = join(staging, 'worker');
  copyFileSync(next, newExe);
  chmodSync(target, 0o755);
  chmodSync(newExe, 0o755);
  const updater = join(staging, 'updater.sh');
  copyFileSync(join(ROOT, 'updater', 'updater.sh'), updater);
  // What the old worker writes before its hand-off: the new version then marks itself healthy.
  writeFileSync(
    join(dataDir, 'update', 'pending.json'),
    JSON.stringify({ from: '1.0.0', to: '1.1.0', at: new Date().toISOString() }),
  );
  // The "old worker" the updater waits for: a process that exits on its own.
  const oldWorker = spawn('sleep', ['0.5']);
  startUpdater({
    updater,
    pid: oldWorker.pid ?? 0,
    targetExe: target,
    newExe,
    dataDir,
    version: '1.1.0',
    healthTimeoutMs: 60_000,
    supervisor: 'none',
    env: {
      ...process.env,
      ...FAST_SETTINGS,
      HIVE_SERVER_URL: server.url,
      HIVE_DATA_DIR: dataDir,
      HIVE_AUTO_UPDATE: 'false',
    },
  });
  const log = join(dataDir, 'logs', 'updater.log');
  await server.admin.waitFor(() => /1\.1\.0 is healthy; update done/.test(readText(log)), 60_000);
  assert.ok(
    readText(log).includes(`swapped: ${target} is 1.1.0, the previous one is ${target}.old`),
    readText(log),
  );
  assert.equal(versionOf(target), '1.1.0');
  assert.equal(versionOf(`${target}.old`), '1.0.0');
  // The worker the updater started does not inherit the updater's own inputs.
  const holder = readLock(dataDir);
  assert.ok(holder !== undefined && isAlive(holder.pid), 'the new worker runs');
  const environ = readFileSync(`/proc/${holder.pid}/environ`, 'utf8').split('\0');
  assert.deepEqual(
    environ.filter((line) => line.startsWith('HIVE_UPDATER_')),
    [],
    'no HIVE_UPDATER_* variable reaches the new worker',
  );
  assert.ok(environ.includes(`HIVE_DATA_DIR=${dataDir}`), 'its own settings do');
});
