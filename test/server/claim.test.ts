import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TaskSchema } from '../../src/wire/protocol.ts';
import { fakeWorker, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

/** Resolves once exactly `count` claims are held open by the server (read from its metrics). */
function untilLongPollsWaiting(count: number) {
  return server.admin.waitFor(async () => {
    const metrics = await (await fetch(new URL('metrics', server.url))).text();
    return metrics.includes(`hive_server_long_polls_waiting ${count}\n`);
  });
}

/** The task of a 200 claim answer, checked against the protocol's schema. */
function taskOf(answer: { status: number; json: unknown }) {
  assert.equal(answer.status, 200);
  return TaskSchema.parse((answer.json as { task: unknown }).task);
}

test('claim sends only the types the worker lists, oldest first, with the wire Task fields', async () => {
  await server.admin.enqueue({ id: 'c-other', type: 'other_type', payload: null });
  await server.admin.enqueue({ id: 'c-1', type: 'only_a', payload: { n: 1 }, timeoutSec: 5 });
  await server.admin.enqueue({ id: 'c-2', type: 'only_a', payload: { n: 2 } });
  const worker = fakeWorker(server.url, { workerId: 'claim-w1' });
  const first = taskOf(await worker.claim(['only_a']));
  assert.deepEqual(first, {
    id: 'c-1',
    type: 'only_a',
    payload: { n: 1 },
    timeoutSec: 5,
    leaseSec: 60,
    attempt: 1,
    force: false,
  });
  assert.equal(taskOf(await worker.claim(['only_a'])).id, 'c-2');
  const none = await worker.claim(['only_a']);
  assert.equal(none.status, 204);
  assert.equal(none.text, '');
  const task = await server.admin.task('c-other');
  assert.equal(task.state, 'queued');
});

test('a lapsed lease is delivered again, to any worker, with attempt + 1', async () => {
  await server.admin.enqueue({ id: 'lapse-1', type: 'lapse', payload: 'x', leaseSec: 1 });
  const one = fakeWorker(server.url, { workerId: 'lapse-w1' });
  const two = fakeWorker(server.url, { workerId: 'lapse-w2' });
  assert.equal(taskOf(await one.claim(['lapse'])).attempt, 1);
  assert.equal((await two.claim(['lapse'])).status, 204, 'leased tasks are not handed out');
  const again = await server.admin.waitFor(async () => {
    const answer = await two.claim(['lapse']);
    return answer.status === 200 ? taskOf(answer) : undefined;
  });
  assert.equal(again.id, 'lapse-1');
  assert.equal(again.attempt, 2);
  const view = await server.admin.task('lapse-1');
  assert.equal(view.state, 'leased');
  assert.equal(view.leasedTo, 'lapse-w2');
  assert.deepEqual(
    view.deliveries.map((delivery) => [delivery.attempt, delivery.workerId]),
    [
      [1, 'lapse-w1'],
      [2, 'lapse-w2'],
    ],
  );
});

test('a long poll is answered as soon as a matching task is enqueued', async () => {
  const worker = fakeWorker(server.url, { workerId: 'poll-w1' });
  const startedMs = Date.now();
  const pending = worker.claim(['poll_type'], 10);
  await untilLongPollsWaiting(1);
  await server.admin.enqueue({ id: 'poll-other', type: 'not_polled', payload: null });
  await server.admin.enqueue({ id: 'poll-1', type: 'poll_type', payload: null });
  const answer = await pending;
  assert.equal(taskOf(answer).id, 'poll-1');
  assert.ok(Date.now() - startedMs < 3000, 'answered long before waitSec');
});

test('a long poll with nothing to send answers 204 after waitSec', async () => {
  const worker = fakeWorker(server.url, { workerId: 'poll-w2' });
  const startedMs = Date.now();
  const answer = await worker.claim(['never_enqueued'], 0.3);
  const elapsedMs = Date.now() - startedMs;
  assert.equal(answer.status, 204);
  assert.ok(elapsedMs >= 250 && elapsedMs < 2000, `held ${elapsedMs} ms`);
});

test('a long poll whose client went away claims nothing', async () => {
  const gone = new AbortController();
  const request = fetch(new URL('tasks/claim', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hive-worker-id': 'poll-gone' },
    body: JSON.stringify({
      workerId: 'poll-gone',
      version: '1.0.0',
      platform: 'linux-x64',
      tasks: ['abandoned'],
      waitSec: 10,
    }),
    signal: gone.signal,
  });
  await untilLongPollsWaiting(1);
  gone.abort();
  await assert.rejects(request);
  await untilLongPollsWaiting(0);
  await server.admin.enqueue({ id: 'abandoned-1', type: 'abandoned', payload: null });
  assert.equal((await server.admin.task('abandoned-1')).state, 'queued');
});

test('claims are validated: worker id header, body schema, matching worker ids', async () => {
  const claimUrl = new URL('tasks/claim', server.url);
  const body = {
    workerId: 'v-w',
    version: '1.0.0',
    platform: 'linux-x64',
    tasks: ['x'],
    waitSec: 0,
  };
  const post = (headers: Record<string, string>, payload: unknown) =>
    fetch(claimUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(payload),
    });
  assert.equal((await post({}, body)).status, 400, 'no X-Hive-Worker-Id');
  assert.equal((await post({ 'x-hive-worker-id': 'v-w' }, { ...body, tasks: 'x' })).status, 400);
  assert.equal(
    (await post({ 'x-hive-worker-id': 'v-w' }, { ...body, version: 'one' })).status,
    400,
  );
  assert.equal((await post({ 'x-hive-worker-id': 'someone-else' }, body)).status, 400);
  assert.equal((await post({ 'x-hive-worker-id': 'v-w' }, body)).status, 204);
  const wrongType = await fetch(claimUrl, {
    method: 'POST',
    headers: { 'x-hive-worker-id': 'v-w', 'content-type': 'text/plain' },
    body: '{}',
  });
  assert.equal(wrongType.status, 415);
});

test('a lease lapsing during a long poll wakes the poll with attempt + 1', async () => {
  await server.admin.enqueue({ id: 'wake-1', type: 'wake_type', payload: null, leaseSec: 1 });
  const first = fakeWorker(server.url, { workerId: 'wake-w1' });
  assert.equal(taskOf(await first.claim(['wake_type'])).attempt, 1);
  const startedMs = Date.now();
  const again = taskOf(
    await fakeWorker(server.url, { workerId: 'wake-w2' }).claim(['wake_type'], 10),
  );
  assert.equal(again.id, 'wake-1');
  assert.equal(again.attempt, 2);
  assert.ok(Date.now() - startedMs < 3000);
});

test('the server caps how long it holds a long poll', async () => {
  const capped = await startTestServer({ maxWaitSec: 0.2 });
  try {
    const startedMs = Date.now();
    const answer = await fakeWorker(capped.url).claim(['nothing'], 30);
    assert.equal(answer.status, 204);
    assert.ok(Date.now() - startedMs < 2000);
  } finally {
    await capped.close();
  }
});

test('close answers held long polls with 204 at once', async () => {
  const closing = await startTestServer();
  const pending = fakeWorker(closing.url).claim(['nothing'], 30);
  await closing.admin.waitFor(async () => {
    const metrics = await (await fetch(new URL('metrics', closing.url))).text();
    return metrics.includes('hive_server_long_polls_waiting 1\n');
  });
  const startedMs = Date.now();
  await closing.close();
  assert.equal((await pending).status, 204);
  assert.ok(Date.now() - startedMs < 2000);
});
