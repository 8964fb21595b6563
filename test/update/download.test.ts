/** Release downloads against the reference server's releases folder: resume, limits, deadlines. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { downloadRelease } from '../../src/update/download.ts';
import { sha256File } from '../../src/update/verify.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/worker.ts';

const SIZE = 3 * 1024 * 1024;
const releases = tempDir('hive-releases-');
const payload = randomBytes(SIZE);
writeFileSync(join(releases, 'worker-1.1.0-linux-x64.zip'), payload);
let server: TestServer;
let sha256: string;
const dispatcher = new Agent();

before(async () => {
  server = await startTestServer({ releasesDir: releases });
  sha256 = await sha256File(join(releases, 'worker-1.1.0-linux-x64.zip'));
});
after(async () => {
  await dispatcher.close();
  await server.close();
});

function download(dest: string, overrides: Partial<Parameters<typeof downloadRelease>[0]> = {}) {
  return downloadRelease({
    url: new URL('releases/worker-1.1.0-linux-x64.zip', server.url),
    dest,
    sizeBytes: SIZE,
    sha256,
    headers: { 'x-hive-worker-id': 'test-00000000' },
    dispatcher,
    deadlineMs: 10_000,
    inactivityMs: 5_000,
    ...overrides,
  });
}

describe('downloading a release', () => {
  test('streams the whole file to disk', async () => {
    const dest = join(tempDir(), 'r.zip');
    await download(dest);
    assert.ok(readFileSync(dest).equals(payload));
    assert.ok(!existsSync(`${dest}.part`));
  });

  test('a partial download is resumed with a Range request, not started over', async () => {
    const dest = join(tempDir(), 'r.zip');
    // The first try is cut off by the server mid-body.
    await server.admin.faults([
      {
        route: 'releases',
        status: 200,
        body: payload.subarray(0, 1000).toString('latin1'),
        headers: { 'content-type': 'application/zip' },
      },
    ]);
    await assert.rejects(download(dest), /ended at \d+ of \d+ bytes; will resume/);
    // A real partial file, as a connection dropped at 1 MiB would leave it.
    writeFileSync(`${dest}.part`, payload.subarray(0, 1024 * 1024));
    const progress: number[] = [];
    await download(dest, { onProgress: (received) => progress.push(received) });
    assert.ok(readFileSync(dest).equals(payload));
    assert.ok((progress[0] ?? 0) > 1024 * 1024, 'counting started at the bytes already there');
  });

  test('a server sending more than announced is cut off', async () => {
    const dest = join(tempDir(), 'r.zip');
    await assert.rejects(download(dest, { sizeBytes: SIZE - 10 }), /more than the announced/);
    assert.ok(!existsSync(dest));
  });

  test('an endless download hits the overall deadline and keeps what it got', async () => {
    const dest = join(tempDir(), 'r.zip');
    await server.admin.faults([{ route: 'releases', delayMs: 3000 }]);
    await assert.rejects(
      download(dest, { deadlineMs: 300 }),
      /longer than its deadline; will resume/,
    );
  });

  test('a 404 is a clear error', async () => {
    const dest = join(tempDir(), 'r.zip');
    await assert.rejects(
      download(dest, { url: new URL('releases/worker-9.9.9-linux-x64.zip', server.url) }),
      /HTTP 404/,
    );
    assert.equal(existsSync(dest), false);
    assert.ok(statSync(join(releases, 'worker-1.1.0-linux-x64.zip')).size === SIZE);
  });
});
