import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fakeWorker, startTestServer, type TestServer } from '../helpers/server.ts';

const TOKEN = 'test-token-123';
let server: TestServer;
const logLines: string[] = [];
before(async () => {
  server = await startTestServer({
    token: TOKEN,
    minVersion: '1.2.0',
    log: (line) => logLines.push(line),
  });
});
after(() => server.close());

function claimWith(headers: Record<string, string>) {
  return fetch(new URL('tasks/claim', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      workerId: 'auth-w',
      version: '1.2.0',
      platform: 'linux-x64',
      tasks: [],
      waitSec: 0,
    }),
  });
}

test('a missing token is 401 with a Bearer challenge, a wrong one 403, the right one passes', async () => {
  const missing = await claimWith({ 'x-hive-worker-id': 'auth-w' });
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal(
    (await claimWith({ 'x-hive-worker-id': 'auth-w', authorization: 'Basic eDp5' })).status,
    401,
  );
  assert.equal(
    (await claimWith({ 'x-hive-worker-id': 'auth-w', authorization: 'Bearer nope' })).status,
    403,
  );
  const ok = await claimWith({ 'x-hive-worker-id': 'auth-w', authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 204);
});

test('the token is checked before the worker id', async () => {
  assert.equal((await claimWith({})).status, 401);
  assert.equal((await claimWith({ authorization: `Bearer ${TOKEN}` })).status, 400);
});

test('admin and metrics endpoints follow the same token rule', async () => {
  assert.equal((await fetch(new URL('admin/tasks', server.url))).status, 401);
  const wrong = { authorization: 'Bearer wrong' };
  assert.equal((await fetch(new URL('admin/tasks', server.url), { headers: wrong })).status, 403);
  assert.equal((await fetch(new URL('metrics', server.url))).status, 401);
  assert.deepEqual(await server.admin.tasks(), []);
});

test('claims from workers below --min-version get 426', async () => {
  const old = await fakeWorker(server.url, { token: TOKEN, version: '1.1.9' }).claim(['x']);
  assert.equal(old.status, 426);
  const current = await fakeWorker(server.url, { token: TOKEN, version: '1.2.0' }).claim(['x']);
  assert.equal(current.status, 204);
  const newer = await fakeWorker(server.url, { token: TOKEN, version: '1.10.0' }).claim(['x']);
  assert.equal(newer.status, 204);
});

test('unknown paths are 404 and wrong methods 405', async () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  assert.equal((await fetch(new URL('nothing/here', server.url), { headers: auth })).status, 404);
  const wrongMethod = await fetch(new URL('admin/results', server.url), {
    method: 'DELETE',
    headers: auth,
  });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'GET');
});

test('request logs are one line per request and never show the token', () => {
  assert.ok(logLines.length > 10);
  for (const line of logLines) {
    assert.match(line, /^(GET|POST|DELETE|HEAD) \/api\/\S* (\d{3}|dropped) \d+ms \S+$/);
    assert.ok(!line.includes(TOKEN), line);
  }
  assert.ok(
    logLines.some(
      (line) =>
        line.startsWith('POST /api/tasks/claim 426 ') && line.endsWith(' test-host-0000abcd'),
    ),
  );
});
