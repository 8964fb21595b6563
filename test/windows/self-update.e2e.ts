/**
 * A real self-update of the release worker.exe under Wine 10, through the reference server and
 * updater.bat: 1.0.0 finds 1.1.0, downloads and verifies it, drains, hands off (src/update/
 * handoff.ts: cmd.exe /c ""%HIVE_UPDATER_SCRIPT%"", the paths in HIVE_UPDATER_* variables) and
 * exits; updater.bat swaps worker.exe, keeps one backup, starts 1.1.0 and waits for its health
 * marker. And a 1.2.0 that exits at once is rolled back. Each install folder is named the way
 * issues 14.7 and 15 ask: spaces, `&`, `%`, `^`, `!`, parentheses and a non-ASCII letter, on C:.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { buildWorker, ROOT } from '../../scripts/build.ts';
import { packRelease } from '../../scripts/release/package.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { readText } from '../helpers/releases.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import {
  TEST_RELEASE_KEY,
  TEST_RELEASE_PUBLIC_KEY,
  type WineDir,
  WinePrefix,
} from '../helpers/wine.ts';
import { tempDir } from '../helpers/worker.ts';

const UPDATER = join(ROOT, 'updater', 'updater.bat');
const exes: Record<string, string> = {};
let prefix: WinePrefix;
const servers: TestServer[] = [];

before(async () => {
  prefix = new WinePrefix();
  const release = {
    platform: 'win32-x64',
    release: true,
    releasePublicKey: TEST_RELEASE_PUBLIC_KEY,
  } as const;
  exes['1.0.0'] = await builtWorker(release);
  exes['1.1.0'] = await builtWorker({ ...release, version: '1.1.0' });
  const [broken] = await buildWorker({
    version: '1.2.0',
    platforms: ['win32-x64'],
    entry: join(ROOT, 'test', 'fixtures', 'broken-entry.ts'),
    outDir: tempDir('hive-wine-broken-'),
    log: () => {},
  });
  exes['1.2.0'] = broken?.file ?? '';
  prefix.init();
});
// Workers the updater started run detached inside Wine: the prefix's server ends them.
afterEach(() => prefix.kill());
after(async () => {
  prefix?.kill();
  for (const server of servers) await server.close();
});

/** A reference server offering `version` (signed with the tests' key, updater.bat inside). */
async function serveRelease(version: string): Promise<TestServer> {
  const releasesDir = tempDir('hive-wine-rel-');
  packRelease({
    version,
    platform: 'win32-x64',
    executable: exes[version] ?? '',
    updater: UPDATER,
    outDir: releasesDir,
    privateKey: TEST_RELEASE_KEY,
    pinnedPublicKey: TEST_RELEASE_PUBLIC_KEY,
  });
  const server = await startTestServer({ releasesDir });
  servers.push(server);
  return server;
}

/** 1.0.0 installed as `C:\Users\R&D Lab\<folder>\worker.exe`; its data folder is beside it. */
function install(folder: string): { dir: WineDir; exe: WineDir; data: WineDir } {
  const dir = prefix.driveC(`Users\\R&D Lab\\${folder}`);
  const placed = prefix.place(exes['1.0.0'] ?? '', dir, 'worker.exe');
  const exe = { ...placed, windows: `${dir.windows}\\worker.exe` };
  const data = { ...dir, host: join(dir.host, 'data'), windows: `${dir.windows}\\data` };
  return { dir, exe, data };
}

/**
 * What each start of the worker said of its console in worker.log's banner, in order: the
 * version, then `describeConsole`'s words (src/platform/windows-console.ts).
 */
function consoleOfStarts(workerLog: string): { version: string; console: string }[] {
  const starts: { version: string; console: string }[] = [];
  let version = '';
  for (const line of readText(workerLog).split('\n')) {
    const banner = /hive-worker (\d+\.\d+\.\d+)\b/.exec(line);
    if (banner !== null) version = banner[1] ?? '';
    const console = /console {4}([^"\n]*)/.exec(line);
    if (console !== null) starts.push({ version, console: console[1] ?? '' });
  }
  return starts;
}

/**
 * Two starts in the log, of `versions`: the first hidden (its banner says no console), the second
 * by updater.bat's `start` (a console of its own, shared with no other process).
 */
function assertHiddenThenOwnConsole(workerLog: string, versions: [string, string]): void {
  const starts = consoleOfStarts(workerLog);
  assert.deepEqual(
    starts.map((one) => one.version),
    versions,
    JSON.stringify(starts),
  );
  assert.match(starts[0]?.console ?? '', /^none /);
  assert.match(starts[1]?.console ?? '', /^its own /);
}

async function versionOf(exe: WineDir): Promise<string> {
  const run = prefix.run(exe.inside, ['--version']);
  assert.equal(await run.exited, 0, run.output());
  return run.output().trim();
}

describe('self-update of worker.exe under Wine 10, through updater.bat', () => {
  test('1.0.0 → 1.1.0 in C:\\Users\\R&D Lab\\Hive Wörker (test) 100%OS% ^x!: swap, restart, health, one backup, nothing lost', async () => {
    const server = await serveRelease('1.1.0');
    const { dir, exe, data } = install('Hive Wörker (test) 100%OS% ^x!');
    for (let i = 0; i < 3; i++) {
      await server.admin.enqueue({ id: `before-${i}`, type: 'sleep', payload: { ms: 300 } });
    }
    const v1 = prefix.run(exe.inside, [], {
      env: { HIVE_SERVER_URL: server.url, HIVE_UPDATE_HEALTH_TIMEOUT: '40' },
    });
    assert.equal(await v1.exited, 0, v1.output());
    assert.match(v1.output(), /handed off to the updater .* to install 1\.1\.0; exiting/);
    const updaterLog = join(data.host, 'logs', 'updater.log');
    await server.admin
      .waitFor(() => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)), 150_000)
      .catch((error: Error) => assert.fail(`${error.message}\n${readText(updaterLog)}`));
    // cmd.exe writes in the ANSI code page (1252 here): ö is one byte.
    const log = readFileSync(updaterLog, 'latin1');
    assert.ok(log.includes(`installing 1.1.0 into ${exe.windows}`), log);
    assert.ok(log.includes(`the previous one is ${dir.windows}\\worker.old.exe`), log);
    assert.deepEqual(readdirSync(dir.host).sort(), ['data', 'worker.exe', 'worker.old.exe']);
    assert.equal(await versionOf(exe), '1.1.0');
    assert.equal(
      await versionOf({ ...exe, inside: exe.inside.replace(/worker\.exe$/, 'worker.old.exe') }),
      '1.0.0',
    );
    for (let i = 0; i < 3; i++) {
      await server.admin.enqueue({ id: `after-${i}`, type: 'echo', payload: i });
    }
    const after = await waitForResults(server.admin, 'after-', 3, 60_000);
    assert.ok(
      after.every((result) => result.body.workerVersion === '1.1.0'),
      'run by 1.1.0',
    );
    const before = await waitForResults(server.admin, 'before-', 3, 1_000);
    assert.ok(
      before.every((result) => result.body.status === 'succeeded'),
      'nothing lost',
    );
    assert.match(
      readText(join(data.host, 'logs', 'worker.log')),
      /updated from 1\.0\.0 to 1\.1\.0: healthy/,
    );
    // 1.0.0 was started hidden, with no console (as a background start); updater.bat's `start`
    // gave 1.1.0 a console of its own, shared with no other process (not the updater's cmd.exe).
    assertHiddenThenOwnConsole(join(data.host, 'logs', 'worker.log'), ['1.0.0', '1.1.0']);
  });

  test('1.2.0 exits at once: rolled back to 1.0.0 in C:\\Users\\R&D Lab\\Rück & roll (x) ^%PATH%!, which keeps working', async () => {
    const server = await serveRelease('1.2.0');
    const { exe, data } = install('Rück & roll (x) ^%PATH%!');
    const v1 = prefix.run(exe.inside, [], {
      env: { HIVE_SERVER_URL: server.url, HIVE_UPDATE_HEALTH_TIMEOUT: '8' },
    });
    assert.equal(await v1.exited, 0, v1.output());
    const updaterLog = join(data.host, 'logs', 'updater.log');
    await server.admin
      .waitFor(() => /rolled back to the previous version/.test(readText(updaterLog)), 150_000)
      .catch((error: Error) => assert.fail(`${error.message}\n${readText(updaterLog)}`));
    assert.match(
      readText(updaterLog),
      /update to 1\.2\.0 failed: 1\.2\.0 did not report healthy within 8 s; rolled back/,
    );
    assert.equal(await versionOf(exe), '1.0.0');
    const workerLog = join(data.host, 'logs', 'worker.log');
    await server.admin.waitFor(
      () => /the update to 1\.2\.0 was rolled back/.test(readText(workerLog)),
      60_000,
    );
    await server.admin.enqueue({ id: 'after-rollback', type: 'echo', payload: 'still here' });
    const [result] = await waitForResults(server.admin, 'after-rollback', 1, 60_000);
    assert.equal(result?.body.workerVersion, '1.0.0');
    // Started hidden at first (no console); restarted by updater.bat in a console of its own.
    assertHiddenThenOwnConsole(workerLog, ['1.0.0', '1.0.0']);
    assert.equal(readText(updaterLog).match(/installing 1\.2\.0/g)?.length, 1, 'one attempt only');
  });
});
