/**
 * Updates by patch (protocol 1.1-f) with real built executables (Linux): 1.0.0 rebuilds 1.1.0 from
 * the patch and its own executable, then the real updater swaps it in; and every bad patch — tampered,
 * a wrong signatureV2, a lying manifest, a patch made from another version — ends in the zip, staged
 * byte for byte as the release's files, with one log line; a patch cut mid-download resumes.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import AdmZip from 'adm-zip';
import { isAlive, readLock } from '../../src/platform/lock.ts';
import { signReleaseV2 } from '../../src/update/signature.ts';
import { readText, releaseKit, versionOf } from '../helpers/releases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { checkForUpdateOnce, type UpdateCheckRun } from '../helpers/update-check.ts';
import { startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

const kit = releaseKit('hive-patch-');
const releasesDir = tempDir('hive-patch-rel-');
const PLATFORM = 'linux-x64';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
let server: TestServer;
/** The files of the 1.1.0 zip, read once. */
let releaseFiles: Map<string, Buffer>;
/** The 1.1.0 version answer as the release tool wrote it (patches from 1.0.0 and 0.9.0). */
let written: Record<string, unknown> & { patches: Array<Record<string, unknown>> };
const started: WorkerProcess[] = [];

before(async () => {
  for (const version of ['0.9.0', '1.0.0', '1.1.0']) await kit.build(version);
  kit.release('0.9.0', releasesDir);
  kit.release('1.0.0', releasesDir);
  await kit.releaseWithPatches('1.1.0', releasesDir);
  written = JSON.parse(readFileSync(join(releasesDir, `worker-1.1.0-${PLATFORM}.json`), 'utf8'));
  server = await startTestServer({ releasesDir });
  const zip = new AdmZip(join(releasesDir, `worker-1.1.0-${PLATFORM}.zip`));
  releaseFiles = new Map(zip.getEntries().map((entry) => [entry.entryName, entry.getData()]));
});

after(async () => {
  for (const worker of started) await worker.stop('SIGKILL');
  for (const { dataDir } of started) {
    const holder = readLock(dataDir);
    if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
  }
  await server?.close();
});

const patchFile = (from: string) =>
  join(releasesDir, `worker-1.1.0-${PLATFORM}.from-${from}.patch`);

/** One update check by 1.0.0 running from a copy of the real 1.0.0 executable. */
async function check(name: string): Promise<UpdateCheckRun> {
  return checkForUpdateOnce({
    serverUrl: server.url,
    publicKey: kit.publicKey,
    workerId: `w-${name}`,
    platform: PLATFORM,
    executable: kit.install(name),
    // A cut download resumes after a short backoff, not the default seconds.
    env: { HIVE_TIME_ERROR_SLEEP: '0.05', HIVE_MAX_ERROR_SLEEP: '0.2' },
  });
}

/** The server answers `answer` (with the patches given) instead of the written one. */
async function announce(changes: Record<string, unknown>): Promise<void> {
  await server.admin.clearFaults();
  const body = JSON.stringify({ ...written, ...changes });
  await server.admin.faults([{ route: 'version', status: 200, body, times: -1 }]);
}

/** What was staged is the release zip's files, byte for byte, and nothing else. */
function assertStagedIsRelease(run: UpdateCheckRun): void {
  assert.deepEqual(run.errors, []);
  const dir = run.ready?.extracted.dir;
  assert.ok(dir !== undefined, 'the release was staged');
  assert.deepEqual(readdirSync(dir).sort(), [...releaseFiles.keys()].sort());
  for (const [name, data] of releaseFiles) {
    assert.ok(readFileSync(join(dir, name)).equals(data), name);
  }
}

const said = (run: UpdateCheckRun, pattern: RegExp) =>
  run.lines.filter((line) => pattern.test(line.msg)).length;

/** One "not used" line and the zip fetched: the fallback, as protocol 1.1-f asks. */
function assertFellBackOnce(run: UpdateCheckRun, why: RegExp): void {
  assertStagedIsRelease(run);
  const lines = run.lines.filter((line) =>
    /patch from 1\.0\.0 to 1\.1\.0 was not used/.test(line.msg),
  );
  assert.equal(lines.length, 1, JSON.stringify(run.lines.map((line) => line.msg)));
  assert.match(lines[0]?.msg ?? '', why);
  assert.equal(said(run, /^downloading release 1\.1\.0 \(/), 1, 'then the zip');
}

describe('updates by patch', () => {
  test('the server lists only the patch from the version asked about', async () => {
    const patchesFor = async (query: string) => {
      const res = await fetch(`${server.url}version?platform=${PLATFORM}${query}`, {
        headers: { 'x-hive-worker-id': 'w-list' },
      });
      return ((await res.json()) as { patches?: Array<{ from: string }> }).patches?.map(
        (p) => p.from,
      );
    };
    assert.deepEqual(await patchesFor(''), ['1.0.0', '0.9.0']);
    assert.deepEqual(await patchesFor('&from=1.0.0'), ['1.0.0']);
    assert.deepEqual(await patchesFor('&from=0.5.0'), []);
    const patch = readFileSync(patchFile('1.0.0'));
    const zipBytes = Number(written.size);
    assert.ok(
      patch.length < zipBytes / 100,
      `${patch.length} bytes: under 1 % of the ${zipBytes}-byte zip`,
    );
  });

  test('1.0.0 rebuilds 1.1.0 from the patch: only the patch is fetched, the staged files are the zip’s', async () => {
    await server.admin.clearFaults();
    const run = await check('patched');
    assertStagedIsRelease(run);
    assert.equal(said(run, /rebuilt from the patch and verified/), 1);
    assert.equal(said(run, /^downloading release 1\.1\.0 \(/), 0, 'no zip');
    assert.deepEqual(readdirSync(run.store.staging()), ['release-1.1.0'], 'no patch left behind');
  });

  test('a tampered patch (its announced sha256 matching): the zip', async () => {
    const patch = Buffer.from(readFileSync(patchFile('1.0.0')));
    const at = patch.length - 100;
    patch[at] = (patch[at] ?? 0) ^ 0xff;
    const name = 'worker-1.1.0-tampered.patch';
    writeFileSync(join(releasesDir, name), patch);
    await announce({
      patches: [{ from: '1.0.0', url: name, sha256: sha(patch), size: patch.length }],
    });
    assertFellBackOnce(await check('tampered'), /.+/);
  });

  test('a wrong signatureV2 (another key): the zip, and the patch is not even fetched', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    const facts = {
      platform: PLATFORM,
      version: '1.1.0',
      sha256: String(written.sha256),
      manifestSha256: String(written.manifestSha256),
    };
    await announce({ signatureV2: signReleaseV2(facts, other) });
    const run = await check('bad-signature');
    assertFellBackOnce(run, /signatureV2 is not by the pinned release key/);
    assert.equal(said(run, /downloading the patch/), 0);
  });

  test('a lying manifest (signed, but not the release.json the patch makes): the zip', async () => {
    const manifestSha256 = sha(Buffer.from('another release.json'));
    const facts = {
      platform: PLATFORM,
      version: '1.1.0',
      sha256: String(written.sha256),
      manifestSha256,
    };
    await announce({ manifestSha256, signatureV2: signReleaseV2(facts, kit.privateKey) });
    assertFellBackOnce(
      await check('lying-manifest'),
      /release\.json has sha256 .* the signed manifestSha256/,
    );
  });

  test('a patch made from another version (0.9.0, listed as from 1.0.0): the zip', async () => {
    const patch = readFileSync(patchFile('0.9.0'));
    const url = `worker-1.1.0-${PLATFORM}.from-0.9.0.patch`;
    await announce({ patches: [{ from: '1.0.0', url, sha256: sha(patch), size: patch.length }] });
    assertFellBackOnce(await check('other-version'), /the worker the patch was made from/);
  });

  test('a release without signatureV2 (an older server) installs through the zip, no complaint', async () => {
    await announce({ manifestSha256: undefined, signatureV2: undefined, patches: undefined });
    const run = await check('old-server');
    assertStagedIsRelease(run);
    assert.equal(said(run, /patch/), 0);
  });

  test('a patch cut mid-download resumes (Range) and is used', async () => {
    const patch = readFileSync(patchFile('1.0.0'));
    const cdn = await startCdn(patch, Math.floor(patch.length / 2));
    try {
      const url = `${cdn.url}p.patch`;
      await announce({ patches: [{ from: '1.0.0', url, sha256: sha(patch), size: patch.length }] });
      const run = await check('cut');
      assertStagedIsRelease(run);
      assert.equal(said(run, /rebuilt from the patch/), 1);
      assert.equal(cdn.requests.length, 2, 'the first try and one resume');
      assert.match(String(cdn.requests[1]?.range), /^bytes=[1-9]\d*-$/);
    } finally {
      await cdn.close();
    }
  });

  test('the real 1.0.0 executable updates itself to 1.1.0 by patch, through updater.sh', async () => {
    await server.admin.clearFaults();
    const exe = kit.install('Hive Wörker patch');
    const v1 = startWorker({
      serverUrl: server.url,
      command: { file: exe, args: [] },
      env: { HIVE_UPDATE_HEALTH_TIMEOUT: '30' },
    });
    started.push(v1);
    assert.equal((await v1.exitedWithin(60_000)).code, 0, v1.output());
    assert.match(v1.output(), /release 1\.1\.0 rebuilt from the patch and verified/);
    assert.doesNotMatch(v1.output(), /downloading release 1\.1\.0 \(/);
    const updaterLog = join(v1.dataDir, 'logs', 'updater.log');
    await server.admin.waitFor(
      () => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)),
      30_000,
    );
    assert.equal(versionOf(exe), '1.1.0');
    assert.ok(readFileSync(exe).equals(releaseFiles.get('worker') ?? Buffer.alloc(0)));
  });
});

/** Serves `file` (any path) with Range; the first answer is cut after `cutAt` bytes. */
async function startCdn(file: Buffer, cutAt: number) {
  const requests: IncomingHttpHeaders[] = [];
  let cut = cutAt;
  const cdn = createServer((req, res) => {
    requests.push(req.headers);
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const body = file.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      'content-length': body.length,
      etag: '"p1"',
      ...(start > 0 ? { 'content-range': `bytes ${start}-${file.length - 1}/${file.length}` } : {}),
    });
    if (cut > 0) {
      const at = cut;
      cut = 0;
      // The connection dies a moment after the bytes are sent, so the worker has them on disk.
      res.write(body.subarray(0, at), () => setTimeout(() => res.socket?.destroy(), 300));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
  return {
    requests,
    url: `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        cdn.closeAllConnections();
        cdn.close(() => resolve());
      }),
  };
}
