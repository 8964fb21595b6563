import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fakeWorker, startTestServer, type TestServer } from '../helpers/server.ts';

let root: string;
let server: TestServer;
const zip = randomBytes(1000);
const newest = JSON.stringify({
  version: '1.10.0',
  url: 'releases/worker-1.10.0-linux-x64.zip',
  size: 1000,
});
const headers = { 'x-hive-worker-id': 'rel-w1' };

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hive-releases-'));
  const releases = join(root, 'releases');
  await mkdir(releases);
  await writeFile(join(root, 'secret.txt'), 'outside the releases folder');
  await writeFile(join(releases, 'worker-1.9.0-linux-x64.json'), '{"version":"1.9.0"}');
  await writeFile(join(releases, 'worker-1.10.0-linux-x64.json'), newest);
  await writeFile(join(releases, 'worker-latest-linux-x64.json'), '{"not":"semver"}');
  await writeFile(join(releases, 'worker-3.0.0-win32-x64.json'), '{"version":"3.0.0"}');
  await writeFile(join(releases, 'worker-1.10.0-linux-x64.zip'), zip);
  await symlink(join(root, 'secret.txt'), join(releases, 'escape.txt'));
  server = await startTestServer({ releasesDir: releases });
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

const get = (path: string, extra: Record<string, string> = {}) =>
  fetch(new URL(path, server.url), { headers: { ...headers, ...extra } });

/** A GET with the path sent byte for byte (fetch would normalize `..` and friends). */
function rawGet(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('version serves the newest release file for the platform as is (semver order)', async () => {
  const answer = await get('version?platform=linux-x64');
  assert.equal(answer.status, 200);
  assert.equal(await answer.text(), newest);
  assert.equal((await get('version?platform=darwin-arm64')).status, 404);
  assert.equal((await get('version')).status, 400);
});

test('claim answers carry X-Hive-Latest-Version when the platform has a release', async () => {
  await server.admin.enqueue({ id: 'rel-task', type: 'rel_type', payload: null });
  const linux = fakeWorker(server.url, { platform: 'linux-x64' });
  const delivered = await linux.claim(['rel_type']);
  assert.equal(delivered.status, 200);
  assert.equal(delivered.headers.get('x-hive-latest-version'), '1.10.0');
  const empty = await linux.claim(['rel_type']);
  assert.equal(empty.status, 204);
  assert.equal(empty.headers.get('x-hive-latest-version'), '1.10.0');
  const mac = await fakeWorker(server.url, { platform: 'darwin-arm64' }).claim(['rel_type']);
  assert.equal(mac.headers.get('x-hive-latest-version'), null);
});

test('release files are served whole with length, ETag and Accept-Ranges', async () => {
  const answer = await get('releases/worker-1.10.0-linux-x64.zip');
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('content-length'), '1000');
  assert.equal(answer.headers.get('accept-ranges'), 'bytes');
  assert.match(answer.headers.get('etag') ?? '', /^"[0-9a-f]+-[0-9a-f]+"$/);
  assert.deepEqual(Buffer.from(await answer.arrayBuffer()), zip);
  const head = await fetch(new URL('releases/worker-1.10.0-linux-x64.zip', server.url), {
    method: 'HEAD',
    headers,
  });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), '1000');
  assert.equal((await get('releases/missing.zip')).status, 404);
});

test('Range answers 206 with Content-Range, and 416 past the end', async () => {
  const path = 'releases/worker-1.10.0-linux-x64.zip';
  const cases: [string, number, number][] = [
    ['bytes=100-', 100, 999],
    ['bytes=0-9', 0, 9],
    ['bytes=-10', 990, 999],
    ['bytes=990-5000', 990, 999],
  ];
  for (const [range, start, end] of cases) {
    const answer = await get(path, { range });
    assert.equal(answer.status, 206, range);
    assert.equal(answer.headers.get('content-range'), `bytes ${start}-${end}/1000`);
    assert.equal(answer.headers.get('content-length'), String(end - start + 1));
    assert.deepEqual(Buffer.from(await answer.arrayBuffer()), zip.subarray(start, end + 1));
  }
  const beyond = await get(path, { range: 'bytes=1000-' });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get('content-range'), 'bytes */1000');
  await beyond.text();
  const garbage = await get(path, { range: 'lines=1-2' });
  assert.equal(garbage.status, 200, 'an unknown range unit is ignored');
  await garbage.arrayBuffer();
});

test('If-Range resumes only while the file is unchanged', async () => {
  const path = 'releases/worker-1.10.0-linux-x64.zip';
  const full = await get(path);
  const etag = full.headers.get('etag') ?? '';
  const lastModified = full.headers.get('last-modified') ?? '';
  await full.arrayBuffer();
  const same = await get(path, { range: 'bytes=500-', 'if-range': etag });
  assert.equal(same.status, 206);
  assert.equal((await same.arrayBuffer()).byteLength, 500);
  const byDate = await get(path, { range: 'bytes=500-', 'if-range': lastModified });
  assert.equal(byDate.status, 206);
  await byDate.arrayBuffer();
  const changed = await get(path, { range: 'bytes=500-', 'if-range': '"0-0"' });
  assert.equal(changed.status, 200);
  assert.equal((await changed.arrayBuffer()).byteLength, 1000);
});

test('paths that try to leave the releases folder are refused', async () => {
  assert.equal(
    await rawGet('/api/releases/worker-1.10.0-linux-x64.zip'),
    200,
    'the control path is served',
  );
  const attempts = [
    '/api/releases/..%2fsecret.txt',
    '/api/releases/%2e%2e%2fsecret.txt',
    '/api/releases/..%5csecret.txt',
    '/api/releases/%2e%2e',
    '/api/releases/.hidden',
    '/api/releases/escape.txt',
    '/api/releases/../secret.txt',
    '/api/releases/..%2f..%2fpackage.json',
    '/api/releases/%00worker.zip',
  ];
  for (const path of attempts) {
    const status = await rawGet(path);
    assert.ok(status === 400 || status === 404, `${path} answered ${status}`);
  }
});

test('a server without a releases folder answers 404', async () => {
  const bare = await startTestServer();
  try {
    const version = await fetch(new URL('version?platform=linux-x64', bare.url), { headers });
    assert.equal(version.status, 404);
    const file = await fetch(new URL('releases/worker-1.10.0-linux-x64.zip', bare.url), {
      headers,
    });
    assert.equal(file.status, 404);
  } finally {
    await bare.close();
  }
});
