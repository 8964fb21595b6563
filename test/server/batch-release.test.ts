/**
 * Protocol 1.1-d and 1.1-e on the real server over HTTP: results in one request with a status
 * per entry, and a held task given back without counting an attempt.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BatchResultsAnswerSchema } from '../../src/wire/protocol.ts';
import {
  enqueueEach,
  fakeWorker,
  resultBody,
  startTestServer,
  type TestServer,
  tasksOf,
} from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

const enqueue = (type: string, ids: string[]) => enqueueEach(server.admin, type, ids);

test('a batch answers each result with the status section 3 gives it, in order', async () => {
  await enqueue('batch', ['bt-1', 'bt-2', 'bt-3']);
  const worker = fakeWorker(server.url, { workerId: 'batch-w1' });
  tasksOf(await worker.claimMany(['batch'], 3));
  const earlier = resultBody({ workerId: 'batch-w1' });
  assert.equal((await worker.postResult('bt-2', earlier)).status, 200);
  const fresh = resultBody({ workerId: 'batch-w1', output: { n: 1 } });
  const other = resultBody({ workerId: 'batch-w1' });
  const lost = resultBody({ workerId: 'batch-w1' });
  const invalid = { ...resultBody({ workerId: 'batch-w1' }), taskId: 'bt-3', status: 'great' };
  const answer = await worker.postResults([
    { taskId: 'bt-1', ...fresh },
    { taskId: 'bt-2', ...earlier },
    { taskId: 'bt-2', ...other },
    { taskId: 'no-such-task', ...lost },
    invalid,
  ]);
  assert.equal(answer.status, 200, answer.text);
  const { results, next } = BatchResultsAnswerSchema.parse(answer.json);
  assert.deepEqual(
    results.map((entry) => [entry.resultId, entry.status]),
    [
      [fresh.resultId, 200],
      [earlier.resultId, 409],
      [other.resultId, 409],
      [lost.resultId, 404],
      [invalid.resultId, 400],
    ],
  );
  assert.equal(next, undefined, 'no next asked, none answered');
  const view = await server.admin.task('bt-1');
  assert.equal(view.state, 'done');
  assert.deepEqual(view.results[0]?.body.output, { n: 1 });
  assert.equal(
    (await server.admin.task('bt-3')).state,
    'leased',
    'the invalid entry is not stored',
  );
});

test('a batch is 1…100 results of one worker; the whole request is a 400 otherwise', async () => {
  const worker = fakeWorker(server.url, { workerId: 'batch-w2' });
  assert.equal((await worker.postResults([])).status, 400);
  const many = Array.from({ length: 101 }, () => ({ taskId: 'x', ...resultBody() }));
  assert.equal((await worker.postResults(many)).status, 400);
  const impostor = fakeWorker(server.url, { workerId: 'batch-w3' });
  const mismatch = await fetch(new URL('tasks/results', server.url), {
    method: 'POST',
    headers: { 'x-hive-worker-id': 'batch-w2', 'content-type': 'application/json' },
    body: JSON.stringify({ workerId: impostor.workerId, results: [many[0]] }),
  });
  assert.equal(mismatch.status, 400);
  assert.match(await mismatch.text(), /differs from X-Hive-Worker-Id/);
});

test("a batch's next leases tasks once, and a re-sent batch (even regrouped) gets the same ones", async () => {
  await enqueue('batch_next', ['bn-1', 'bn-2', 'bn-3', 'bn-4', 'bn-5']);
  const worker = fakeWorker(server.url, { workerId: 'batch-w4' });
  tasksOf(await worker.claimMany(['batch_next'], 2));
  const one = { taskId: 'bn-1', ...resultBody({ workerId: 'batch-w4' }) };
  const two = { taskId: 'bn-2', ...resultBody({ workerId: 'batch-w4' }) };
  const first = BatchResultsAnswerSchema.parse(
    (await worker.postResults([one, two], { max: 2 })).json,
  );
  assert.deepEqual(
    first.next?.tasks.map((task) => task.id),
    ['bn-3', 'bn-4'],
  );
  const again = BatchResultsAnswerSchema.parse((await worker.postResults([two], { max: 2 })).json);
  assert.deepEqual(
    again.results.map((entry) => entry.status),
    [409],
  );
  assert.deepEqual(
    again.next?.tasks.map((task) => task.id),
    ['bn-3', 'bn-4'],
  );
  assert.equal((await server.admin.task('bn-5')).state, 'queued');
});

test('a held task given back is queued at once, ahead of newer tasks, with the same attempt next time', async () => {
  await enqueue('give_back', ['g-1', 'g-2']);
  const holder = fakeWorker(server.url, { workerId: 'release-w1' });
  const held = tasksOf(await holder.claimMany(['give_back'], 2));
  assert.deepEqual(
    held.map((task) => [task.id, task.attempt]),
    [
      ['g-1', 1],
      ['g-2', 1],
    ],
  );
  await enqueue('give_back', ['g-3']);
  // A held task is heart-beaten like a running one.
  assert.equal((await holder.heartbeat('g-2')).status, 200);
  const released = await holder.release('g-2', 'shutdown');
  assert.equal(released.status, 204, released.text);
  const view = await server.admin.task('g-2');
  assert.equal(view.state, 'queued');
  assert.equal(view.attempt, 0);
  assert.deepEqual(view.deliveries, [], 'the given-back delivery is not counted');

  const other = fakeWorker(server.url, { workerId: 'release-w2' });
  const next = tasksOf(await other.claimMany(['give_back'], 1));
  assert.deepEqual(
    next.map((task) => [task.id, task.attempt]),
    [['g-2', 1]],
    'g-2 comes before the newer g-3, as attempt 1 again',
  );
  // No longer the holder's: releasing or beating it again is 409.
  assert.equal((await holder.release('g-2')).status, 409);
  assert.equal((await holder.heartbeat('g-2')).status, 409);
});

test('release: 404 unknown, 409 not ours or finished, 410 cancelled, 400 bad reason', async () => {
  await enqueue('release_edge', ['e-1', 'e-2', 'e-3']);
  const worker = fakeWorker(server.url, { workerId: 'release-w3' });
  tasksOf(await worker.claimMany(['release_edge'], 3));
  assert.equal((await worker.release('nope')).status, 404);
  const stranger = fakeWorker(server.url, { workerId: 'release-w4' });
  assert.equal((await stranger.release('e-1', 'update')).status, 409);
  assert.equal((await worker.postResult('e-1', resultBody())).status, 200);
  assert.equal((await worker.release('e-1')).status, 409);
  await server.admin.cancel('e-2');
  assert.equal((await worker.release('e-2')).status, 410);
  const bad = await fetch(new URL('tasks/e-3/release', server.url), {
    method: 'POST',
    headers: { 'x-hive-worker-id': worker.workerId, 'content-type': 'application/json' },
    body: JSON.stringify({ workerId: worker.workerId, reason: 'bored' }),
  });
  assert.equal(bad.status, 400);
  assert.equal((await server.admin.task('e-3')).state, 'leased');
});
