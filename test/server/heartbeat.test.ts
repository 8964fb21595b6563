import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HeartbeatAnswerSchema } from '../../src/wire/protocol.ts';
import { fakeWorker, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function claimOne(workerId: string, type: string) {
  const worker = fakeWorker(server.url, { workerId });
  const answer = await worker.claim([type]);
  assert.equal(answer.status, 200, answer.text);
  return worker;
}

test('heartbeats keep a short lease alive past its length and store the progress', async () => {
  await server.admin.enqueue({ id: 'hb-1', type: 'hb_keep', payload: null, leaseSec: 1 });
  const holder = await claimOne('hb-w1', 'hb_keep');
  const other = fakeWorker(server.url, { workerId: 'hb-w2' });
  for (let beat = 0; beat < 15; beat += 1) {
    await sleep(100);
    const answer = await holder.heartbeat('hb-1', { percent: beat * 5, message: `beat ${beat}` });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(HeartbeatAnswerSchema.parse(answer.json), { leaseSec: 1, cancel: false });
    assert.equal((await other.claim(['hb_keep'])).status, 204, 'still leased to hb-w1');
  }
  const view = await server.admin.task('hb-1');
  assert.equal(view.state, 'leased');
  assert.equal(view.attempt, 1);
  assert.deepEqual(view.progress, { percent: 70, message: 'beat 14' });
});

test('heartbeat answers 404 for an unknown task and 409 when the task is not the caller’s', async () => {
  const stranger = fakeWorker(server.url, { workerId: 'hb-stranger' });
  assert.equal((await stranger.heartbeat('no-such-task')).status, 404);

  await server.admin.enqueue({ id: 'hb-2', type: 'hb_conflict', payload: null, leaseSec: 1 });
  const holder = await claimOne('hb-w3', 'hb_conflict');
  assert.equal((await stranger.heartbeat('hb-2')).status, 409, 'leased to another worker');

  await sleep(1100);
  assert.equal((await holder.heartbeat('hb-2')).status, 409, 'lease lapsed');

  await server.admin.enqueue({ id: 'hb-3', type: 'hb_done', payload: null });
  const finisher = await claimOne('hb-w4', 'hb_done');
  assert.equal((await finisher.postResult('hb-3', resultBody({ workerId: 'hb-w4' }))).status, 200);
  assert.equal((await finisher.heartbeat('hb-3')).status, 409, 'a result is recorded');
});

test('an admin cancel reaches the holder as cancel: true and others as 410', async () => {
  await server.admin.enqueue({ id: 'hb-4', type: 'hb_cancel', payload: null, leaseSec: 5 });
  const holder = await claimOne('hb-w5', 'hb_cancel');
  const cancelled = await server.admin.cancel('hb-4');
  assert.equal(cancelled.state, 'cancelled');
  const answer = await holder.heartbeat('hb-4');
  assert.equal(answer.status, 200);
  assert.deepEqual(HeartbeatAnswerSchema.parse(answer.json), { leaseSec: 5, cancel: true });
  assert.equal((await fakeWorker(server.url, { workerId: 'hb-w6' }).heartbeat('hb-4')).status, 410);
  assert.equal(
    (await fakeWorker(server.url, { workerId: 'hb-w6' }).claim(['hb_cancel'])).status,
    204,
  );

  // The worker reports `cancelled`; the server stores it and the task stays cancelled.
  const report = resultBody({
    workerId: 'hb-w5',
    status: 'cancelled',
    output: null,
    error: { code: 'CANCELLED', message: 'cancelled by the server' },
  });
  assert.equal((await holder.postResult('hb-4', report)).status, 200);
  const view = await server.admin.task('hb-4');
  assert.equal(view.state, 'cancelled');
  assert.equal(view.results[0]?.body.status, 'cancelled');
});

test('cancel answers 404 for an unknown task and 409 for a done one', async () => {
  await assert.rejects(server.admin.cancel('no-such-task'), /answered 404/);
  await server.admin.enqueue({ id: 'hb-5', type: 'hb_cancel_done', payload: null });
  const worker = await claimOne('hb-w7', 'hb_cancel_done');
  await worker.postResult('hb-5', resultBody({ workerId: 'hb-w7' }));
  await assert.rejects(server.admin.cancel('hb-5'), /answered 409/);
});

test('heartbeat bodies are validated', async () => {
  await server.admin.enqueue({ id: 'hb-6', type: 'hb_invalid', payload: null });
  await claimOne('hb-w8', 'hb_invalid');
  const post = (body: unknown) =>
    fetch(new URL('tasks/hb-6/heartbeat', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hive-worker-id': 'hb-w8' },
      body: JSON.stringify(body),
    });
  assert.equal((await post({ workerId: 'hb-w8', progress: { percent: 'half' } })).status, 400);
  assert.equal((await post({ workerId: 'hb-other' })).status, 400);
  assert.equal((await post({ workerId: 'hb-w8' })).status, 200);
});
