/**
 * updater.bat for real, under Wine (`npm run test:windows`): worker.exe builds on Node 22 (the
 * Windows Node that Wine 8 starts). The updater swaps worker.exe in a folder whose path has spaces
 * and non-ASCII letters, starts the new one, waits for its health marker, and rolls back a version
 * that does not come up. The hand-off from a running worker is covered on Linux
 * (test/update/self-update-e2e.test.ts); here the old worker has already exited.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildWorker, ROOT } from '../../scripts/build.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { FAST_SETTINGS, tempDir } from '../helpers/worker.ts';

const WINE_NODE = '22.23.3';
const PREFIX = join(ROOT, '.cache', 'wine-prefix');
const WINE_ENV = { WINEDEBUG: '-all', WINEPREFIX: PREFIX };
const UPDATER = join(ROOT, 'updater', 'updater.bat');

let server: TestServer;
const exes: Record<string, string> = {};

function wineEnv(dataDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...FAST_SETTINGS,
    ...WINE_ENV,
    HIVE_SERVER_URL: server.url,
    HIVE_DATA_DIR: windowsPath(dataDir),
    HIVE_TCP_KEEPALIVE: 'false',
    HIVE_AUTO_UPDATE: 'false',
  };
}

function windowsPath(path: string): string {
  const result = spawnSync('winepath', ['-w', path], {
    env: { ...process.env, ...WINE_ENV },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim();
}

function versionOf(exe: string): string {
  const dir = tempDir('hive-wine-v-');
  const out = join(dir, 'out.txt');
  // Wine cannot write Node's stdout to a pipe: send it to a file.
  spawnSync('sh', ['-c', `wine "$0" --version > "$1" 2>&1`, exe, out], {
    env: { ...process.env, ...WINE_ENV },
  });
  return readFileSync(out, 'utf8').trim();
}

/** Installs 1.0.0 as worker.exe and runs updater.bat to install `version` from `newExe`. */
async function runUpdater(version: string, healthTimeoutSec: number) {
  const root = tempDir('hive-wine-upd-');
  const installDir = join(root, 'Hive Wörker dir');
  const dataDir = join(root, 'data');
  mkdirSync(installDir, { recursive: true });
  mkdirSync(join(dataDir, 'update'), { recursive: true });
  const target = join(installDir, 'worker.exe');
  copyFileSync(exes['1.0.0'] ?? '', target);
  // What the old worker writes before the hand-off: the new version marks itself healthy.
  writeFileSync(
    join(dataDir, 'update', 'pending.json'),
    JSON.stringify({ from: '1.0.0', to: version, at: new Date().toISOString() }),
  );
  const args = [
    '4000000',
    target,
    exes[version] ?? '',
    dataDir,
    version,
    String(healthTimeoutSec),
  ].map((arg) => (arg === '4000000' || /^\d/.test(arg) ? arg : windowsPath(arg)));
  // Asynchronously: the reference server runs in this process and must keep answering.
  const child = spawn('wine', ['cmd', '/d', '/c', windowsPath(UPDATER), ...args], {
    env: wineEnv(dataDir),
    stdio: 'ignore',
  });
  const status = await new Promise<number | null>((resolve) =>
    child.on('exit', (code) => resolve(code)),
  );
  const log = readFileSync(join(dataDir, 'logs', 'updater.log'), 'latin1');
  return { status, log, target, dataDir };
}

before(async () => {
  if (spawnSync('wine', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('Wine is not installed: apt-get install -y wine64');
  }
  // Copies: the shared build cache prunes old builds while other test files build theirs.
  const keep = tempDir('hive-wine-exes-');
  const copy = (file: string, version: string) => {
    const to = join(keep, `worker-${version}.exe`);
    copyFileSync(file, to);
    return to;
  };
  exes['1.0.0'] = copy(
    await builtWorker({ platform: 'win32-x64', nodeVersion: WINE_NODE }),
    '1.0.0',
  );
  exes['1.1.0'] = copy(
    await builtWorker({ platform: 'win32-x64', nodeVersion: WINE_NODE, version: '1.1.0' }),
    '1.1.0',
  );
  const [broken] = await buildWorker({
    version: '1.2.0',
    platforms: ['win32-x64'],
    nodeVersion: WINE_NODE,
    entry: join(ROOT, 'test', 'fixtures', 'broken-entry.ts'),
    outDir: tempDir('hive-wine-broken-'),
    log: () => {},
  });
  exes['1.2.0'] = broken?.file ?? '';
  if (!existsSync(join(PREFIX, 'system.reg'))) {
    spawnSync('wine', ['winecfg', '/v', 'win10'], {
      env: { ...process.env, ...WINE_ENV },
      stdio: 'ignore',
    });
  }
  server = await startTestServer();
});

after(async () => {
  // Workers the updater started run detached inside Wine: end them with the prefix's server.
  spawnSync('wineserver', ['-k'], { env: { ...process.env, ...WINE_ENV } });
  await server?.close();
});

describe('updater.bat under Wine', () => {
  test('swaps worker.exe, keeps one backup, starts the new one, which reports healthy', async () => {
    const run = await runUpdater('1.1.0', 60);
    assert.equal(run.status, 0, run.log);
    assert.match(run.log, /swapped: .* is 1\.1\.0/);
    assert.match(run.log, /1\.1\.0 is healthy; update done/);
    assert.equal(versionOf(run.target), '1.1.0');
    assert.equal(versionOf(run.target.replace(/worker\.exe$/, 'worker.old.exe')), '1.0.0');
  });

  test('a version that does not come up is rolled back and the old one started again', async () => {
    const run = await runUpdater('1.2.0', 8);
    assert.equal(run.status, 1, run.log);
    assert.match(
      run.log,
      /update to 1\.2\.0 failed: 1\.2\.0 did not report healthy within 8 s; rolled back/,
    );
    assert.equal(versionOf(run.target), '1.0.0');
    // The old worker, started again, turns the marker into a remembered failure.
    await server.admin.waitFor(
      () => !existsSync(join(run.dataDir, 'update', 'failed-1.2.0')),
      60_000,
    );
    const state = JSON.parse(readFileSync(join(run.dataDir, 'update', 'state.json'), 'utf8'));
    assert.ok(state.failed['1.2.0'], 'the old worker remembers the failed version');
  });
});
