/**
 * An update by patch (protocol 1.1-f) of the release worker.exe under Wine 10: 1.0.0, installed in
 * a folder named as test:windows' hostile ones, finds 1.1.0 with a patch from 1.0.0, rebuilds
 * worker.exe from its own executable and the patch (no zip fetched), and updater.bat swaps it in;
 * the installed worker.exe is then byte for byte the release's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import { addPatches, packRelease } from '../../scripts/release/package.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { readText } from '../helpers/releases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { TEST_RELEASE_KEY, TEST_RELEASE_PUBLIC_KEY, WinePrefix } from '../helpers/wine.ts';
import { tempDir } from '../helpers/worker.ts';

const PLATFORM = 'win32-x64';
const exes: Record<string, string> = {};
let prefix: WinePrefix;
let server: TestServer | undefined;
const releasesDir = tempDir('hive-wine-patch-rel-');

before(async () => {
  prefix = new WinePrefix();
  const release = {
    platform: PLATFORM,
    release: true,
    releasePublicKey: TEST_RELEASE_PUBLIC_KEY,
  } as const;
  exes['1.0.0'] = await builtWorker(release);
  exes['1.1.0'] = await builtWorker({ ...release, version: '1.1.0' });
  const pack = (version: string) =>
    packRelease({
      version,
      platform: PLATFORM,
      executable: exes[version] ?? '',
      updater: join(ROOT, 'updater', 'updater.bat'),
      outDir: releasesDir,
      privateKey: TEST_RELEASE_KEY,
      pinnedPublicKey: TEST_RELEASE_PUBLIC_KEY,
    });
  pack('1.0.0');
  const input = { version: '1.1.0', platform: PLATFORM, outDir: releasesDir };
  await addPatches(pack('1.1.0'), input, { fromDir: releasesDir, count: 3, level: 3 });
  server = await startTestServer({ releasesDir });
  prefix.init();
});
after(async () => {
  prefix?.kill();
  await server?.close();
});

describe('an update by patch of worker.exe under Wine 10', () => {
  test('1.0.0 → 1.1.0 by patch in C:\\Users\\R&D Lab\\Pätch & co (x) 100%OS% ^y!: only the patch fetched, worker.exe byte for byte', async () => {
    const dir = prefix.driveC('Users\\R&D Lab\\Pätch & co (x) 100%OS% ^y!');
    const exe = prefix.place(exes['1.0.0'] ?? '', dir, 'worker.exe');
    const v1 = prefix.run(exe.inside, [], {
      env: { HIVE_SERVER_URL: server?.url ?? '', HIVE_UPDATE_HEALTH_TIMEOUT: '40' },
    });
    assert.equal(await v1.exited, 0, v1.output());
    assert.match(v1.output(), /release 1\.1\.0 rebuilt from the patch and verified/);
    assert.doesNotMatch(v1.output(), /downloading release 1\.1\.0 \(|was not used/);
    const updaterLog = join(dir.host, 'data', 'logs', 'updater.log');
    await server?.admin
      .waitFor(() => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)), 150_000)
      .catch((error: Error) => assert.fail(`${error.message}\n${readText(updaterLog)}`));
    const installed = readFileSync(join(dir.host, 'worker.exe'));
    assert.ok(installed.equals(readFileSync(exes['1.1.0'] ?? '')), 'the release’s worker.exe');
  });
});
