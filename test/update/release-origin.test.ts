/**
 * Where a release comes from, and what reaches it (protocol sections "Every request" and 5): the
 * token goes only to SERVER_URL's origin, a release on a CDN is fetched without it; a cut
 * download resumes at once, within the same check; a version that is not strict semver is one log
 * line, never a crash. Real SelfUpdate and HiveClient against the real reference server (with a
 * token), plus a small "CDN" on another origin that records what it was sent and can cut a body.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { signRelease } from '../../src/update/signature.ts';
import { releaseUrl } from '../../src/update/verify.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { checkForUpdateOnce } from '../helpers/update-check.ts';
import { tempDir } from '../helpers/worker.ts';
import { type RawEntry, rawZip } from '../helpers/zip.ts';

const PLATFORM = 'linux-x64';
const TOKEN = 'release-origin-token-1234';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const PUB = publicKey.export({ format: 'jwk' }).x ?? '';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function releaseZip(version: string): Buffer {
  const files: RawEntry[] = [
    { name: 'worker', data: Buffer.from(`#!/bin/sh\necho ${version}\n${'x'.repeat(200_000)}\n`) },
    { name: 'updater.sh', data: Buffer.from('#!/bin/sh\n') },
  ];
  const listed = Object.fromEntries(files.map((file) => [file.name, sha(file.data)]));
  const manifest = { version, platform: PLATFORM, files: listed };
  return rawZip([...files, { name: 'release.json', data: Buffer.from(JSON.stringify(manifest)) }]);
}

/** A file server on its own port (another origin): records requests; may cut the first body. */
interface Cdn {
  url: string;
  requests: IncomingHttpHeaders[];
  /** Bytes of the next full answer to send before destroying the socket (0 = never cut). */
  cutNextAt: number;
  close(): Promise<void>;
}

async function startCdn(file: Buffer): Promise<Cdn> {
  const cdn = { requests: [] as IncomingHttpHeaders[], cutNextAt: 0 };
  const server: Server = createServer((req, res) => {
    cdn.requests.push(req.headers);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range === null ? 0 : Number(range[1]);
    const body = file.subarray(start);
    const headers: Record<string, string | number> = {
      'content-length': body.length,
      etag: '"v1"',
      ...(start > 0 ? { 'content-range': `bytes ${start}-${file.length - 1}/${file.length}` } : {}),
    };
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (cdn.cutNextAt > 0) {
      const cut = cdn.cutNextAt;
      cdn.cutNextAt = 0;
      // Half the file, then the connection dies: what a flaky link does at 23 MB of 41. It dies a
      // moment after the bytes are sent, so that the worker has them on disk (a cut that came
      // before any reached its file was a restart, not a resume, on a loaded machine).
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 300));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(cdn, {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

let server: TestServer;
const releases = tempDir('hive-origin-releases-');
before(async () => {
  server = await startTestServer({ releasesDir: releases, token: TOKEN });
});
after(() => server.close());

/** Makes the server announce `zip` as `version` at `url` (signed by our key unless told). */
async function announce(version: string, url: string, zip: Buffer): Promise<void> {
  const digest = sha(zip);
  const signature = signRelease({ platform: PLATFORM, version, sha256: digest }, privateKey);
  const answer = { version, url, sha256: digest, size: zip.length, signature };
  await server.admin.clearFaults();
  await server.admin.faults([
    { route: 'version', status: 200, body: JSON.stringify(answer), times: -1 },
  ]);
}

/** One update check by a real SelfUpdate (as the executable runs it), with the token configured. */
function check() {
  return checkForUpdateOnce({
    serverUrl: server.url,
    env: {
      HIVE_TOKEN: TOKEN,
      HIVE_REQUEST_TIMEOUT: '5',
      HIVE_TIME_ERROR_SLEEP: '0.05',
      HIVE_MAX_ERROR_SLEEP: '0.2',
      HIVE_UPDATE_DOWNLOAD_TIMEOUT: '30',
    },
    publicKey: PUB,
    workerId: 'origin-00000000',
    platform: PLATFORM,
  });
}

describe('release origin and token scope', () => {
  test('a release on another origin (a CDN) is fetched WITHOUT the token', async () => {
    const zip = releaseZip('1.1.0');
    const cdn = await startCdn(zip);
    try {
      await announce('1.1.0', `${cdn.url}worker-1.1.0.zip`, zip);
      const { ready, errors } = await check();
      assert.deepEqual(errors, []);
      assert.equal(ready?.release.version, '1.1.0', 'the release is prepared all the same');
      assert.equal(cdn.requests.length, 1);
      assert.equal(cdn.requests[0]?.authorization, undefined, 'no token to the CDN');
      assert.match(String(cdn.requests[0]?.['user-agent']), /^hive-worker\/1\.0\.0/);
    } finally {
      await cdn.close();
    }
  });

  test('a release on SERVER_URL’s origin gets the token (the server refuses it otherwise)', async () => {
    const zip = releaseZip('1.2.0');
    writeFileSync(join(releases, 'same-origin.zip'), zip);
    await announce('1.2.0', 'releases/same-origin.zip', zip);
    const { ready, errors } = await check();
    assert.deepEqual(errors, [], 'the token-protected server served it');
    assert.equal(ready?.release.version, '1.2.0');
  });

  test('an http: release URL under an https: server is refused; other schemes too', () => {
    const release = { version: '1.3.0' } as Parameters<typeof releaseUrl>[0];
    const https = new URL('https://hive.example.com/api/');
    assert.throws(
      () => releaseUrl(release, new URL('http://cdn.example.com/w.zip'), https),
      /offered over plain http: \(http:\/\/cdn\.example\.com\) by an https: server; refused/,
    );
    assert.throws(
      () => releaseUrl(release, new URL('file:///etc/passwd'), https),
      /url is not http\(s\): file:/,
    );
    const fine = new URL('https://cdn.example.com/w.zip');
    assert.equal(releaseUrl(release, fine, https), fine);
    const plain = new URL('http://127.0.0.1:8080/api/');
    const local = new URL('http://127.0.0.1:9000/w.zip');
    assert.equal(
      releaseUrl(release, local, plain),
      local,
      'http under http is the operator’s call',
    );
  });

  test('a download cut halfway resumes at once (Range), within the same check', async () => {
    const zip = releaseZip('1.4.0');
    const cdn = await startCdn(zip);
    cdn.cutNextAt = Math.floor(zip.length / 2);
    try {
      await announce('1.4.0', `${cdn.url}worker-1.4.0.zip`, zip);
      const { ready, errors, lines } = await check();
      assert.deepEqual(errors, []);
      assert.equal(ready?.release.version, '1.4.0', 'ready after ONE check, not the next one');
      assert.equal(cdn.requests.length, 2, 'the first try and one resume');
      assert.equal(cdn.requests[0]?.range, undefined);
      assert.match(String(cdn.requests[1]?.range), /^bytes=\d+-$/);
      assert.ok(
        Number(/\d+/.exec(String(cdn.requests[1]?.range))?.[0]) > 0,
        'resumed, not restarted',
      );
      assert.equal(
        lines.filter((line) => /broke off .*; resuming in [\d.]+ s \(try 2\)/.test(line.msg))
          .length,
        1,
      );
    } finally {
      await cdn.close();
    }
  });

  for (const version of ['1.02.0', '9007199254740993.0.0']) {
    test(`a version answer naming ${version} is ignored with one log line, no throw`, async () => {
      const zip = releaseZip('1.5.0');
      await announce('1.5.0', 'releases/never.zip', zip);
      // The same announcement, with the version swapped for a non-strict one.
      await server.admin.clearFaults();
      await server.admin.faults([
        {
          route: 'version',
          status: 200,
          body: JSON.stringify({
            version,
            url: 'releases/never.zip',
            sha256: sha(zip),
            size: zip.length,
            signature: 'AAAA',
          }),
          times: -1,
        },
      ]);
      const { ready, lines } = await check();
      assert.equal(ready, undefined);
      const said = lines.filter((line) => line.level >= 40).map((line) => line.msg);
      assert.equal(said.length, 1, JSON.stringify(said));
      assert.match(said[0] ?? '', /update check failed: version answer 200 is invalid at version/);
    });
  }
});
