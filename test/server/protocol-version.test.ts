/**
 * Protocol 1.1-a on the real server: X-Hive-Protocol on every answer; `--protocol 1` (option,
 * flag, and switched at run time) behaving as a version-1 server.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TaskSchema } from '../../src/wire/protocol.ts';
import {
  type FakeWorker,
  fakeWorker,
  resultBody,
  spawnServer,
  startTestServer,
  type TestServer,
} from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

/** One request of every kind a worker or a person sends: the answers' status and header. */
async function answersOf(url: string, worker: FakeWorker) {
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(new URL(path, url), { headers: { 'x-hive-worker-id': worker.workerId, ...headers } });
  const answers = {
    claim200: await worker.claim(['hdr']),
    claim204: await worker.claim(['hdr']),
    heartbeat404: await worker.heartbeat('no-such-task'),
    result400: await worker.postResult('no-such-task', {
      ...resultBody(),
      status: 'nope' as never,
    }),
    version404: await get('version?platform=linux-x64'),
    release404: await get('releases/worker-9.9.9-linux-x64.zip'),
    noWorkerId400: await fetch(new URL('tasks/claim', url), { method: 'POST' }),
    unknown404: await get('nothing/here'),
    metrics200: await get('metrics'),
    admin200: await get('admin/faults'),
  };
  return Object.entries(answers).map(([name, answer]) => [
    name,
    answer.status,
    answer.headers.get('x-hive-protocol'),
  ]);
}

test('a 1.1 server sends X-Hive-Protocol: 1.1 on every answer, errors and 204 included', async () => {
  await server.admin.enqueue({ id: 'h-1', type: 'hdr', payload: null });
  const rows = await answersOf(server.url, fakeWorker(server.url, { workerId: 'hdr-w1' }));
  for (const [name, status, header] of rows) {
    assert.equal(header, '1.1', `${name} (${status})`);
    assert.equal(String(status).slice(0, 3), String(name).slice(-3), `${name}: status ${status}`);
  }
});

/** What a version-1 server does, checked on `url`. */
async function assertSpeaksVersion1(url: string, admin: TestServer['admin'], prefix: string) {
  const worker = fakeWorker(url, { workerId: `${prefix}-w1` });
  await admin.enqueue({ id: `${prefix}-1`, type: `${prefix}_type`, payload: null });
  await admin.enqueue({ id: `${prefix}-2`, type: `${prefix}_type`, payload: null });
  // max is ignored, whatever its value: the answer is the version-1 `{ task }`, one task.
  const claimed = await worker.claimMany([`${prefix}_type`], 1000);
  assert.equal(claimed.status, 200, claimed.text);
  assert.equal(claimed.headers.get('x-hive-protocol'), null);
  assert.deepEqual(Object.keys(claimed.json as object), ['task']);
  const task = TaskSchema.parse((claimed.json as { task: unknown }).task);
  // next is ignored: the answer has none and nothing more is leased.
  const body = { ...resultBody({ workerId: worker.workerId }), next: { max: 5 } };
  const posted = await worker.postResult(task.id, body);
  assert.equal(posted.status, 200);
  assert.equal((posted.json as { next?: unknown }).next, undefined);
  assert.equal((await admin.task(`${prefix}-2`)).state, 'queued');
  // The 1.1 endpoints do not exist.
  const batch = await worker.postResults([{ taskId: task.id, ...resultBody() }]);
  assert.equal(batch.status, 404);
  assert.equal(batch.headers.get('x-hive-protocol'), null);
  assert.equal((await worker.release(task.id)).status, 404);
}

test('protocol 1 (the start option): no header anywhere, 1.1 routes 404, max and next ignored', async () => {
  const v1 = await startTestServer({ protocol: '1' });
  try {
    await v1.admin.enqueue({ id: 'h-1', type: 'hdr', payload: null });
    const rows = await answersOf(v1.url, fakeWorker(v1.url, { workerId: 'hdr-w2' }));
    for (const [name, status, header] of rows) assert.equal(header, null, `${name} (${status})`);
    await assertSpeaksVersion1(v1.url, v1.admin, 'opt');
  } finally {
    await v1.close();
  }
});

test('--protocol 1 on the command line; a bad value is refused', async () => {
  const v1 = await spawnServer({ protocol: '1' });
  try {
    assert.equal(await v1.admin.protocol(), '1');
    await assertSpeaksVersion1(v1.url, v1.admin, 'cli');
  } finally {
    await v1.dispose();
  }
  await assert.rejects(
    spawnServer({ protocol: '2' as never }),
    /Expected --protocol to be 1 or 1\.1/,
  );
});

test('rolled back to version 1 at run time, and forward again', async () => {
  const worker = fakeWorker(server.url, { workerId: 'roll-w1' });
  await server.admin.enqueue({ id: 'roll-1', type: 'roll', payload: null });
  assert.equal((await worker.claimMany(['roll'], 2)).headers.get('x-hive-protocol'), '1.1');
  await server.admin.setProtocol('1');
  try {
    assert.equal(await server.admin.protocol(), '1');
    await assertSpeaksVersion1(server.url, server.admin, 'rolled');
  } finally {
    server.setProtocol('1.1');
  }
  const back = await worker.release('roll-1');
  assert.equal(back.status, 204);
  assert.equal(back.headers.get('x-hive-protocol'), '1.1');
  const bad = await fetch(new URL('admin/protocol', server.url), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: '2' }),
  });
  assert.equal(bad.status, 400);
});
