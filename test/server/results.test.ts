import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TaskSchema } from '../../src/wire/protocol.ts';
import { fakeWorker, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

const worker = () => fakeWorker(server.url, { workerId: 'res-w1' });

async function enqueueAndClaim(id: string) {
  await server.admin.enqueue({ id, type: `type_${id}`, payload: { id } });
  const answer = await worker().claim([`type_${id}`]);
  assert.equal(answer.status, 200, answer.text);
  return TaskSchema.parse((answer.json as { task: unknown }).task);
}

/** Claims a task that was redelivered. */
async function claimAgain(id: string) {
  const answer = await worker().claim([`type_${id}`]);
  assert.equal(answer.status, 200, answer.text);
  return TaskSchema.parse((answer.json as { task: unknown }).task);
}

test('the same resultId again is answered 409 and stored once; the whole body is kept', async () => {
  await enqueueAndClaim('r-1');
  const body = {
    ...resultBody({ workerId: 'res-w1', output: { samples: 118 } }),
    logs: [{ at: new Date().toISOString(), level: 'info' as const, msg: 'fetched 118 samples' }],
    futureField: 'kept as sent',
  };
  assert.equal((await worker().postResult('r-1', body)).status, 200);
  const again = await worker().postResult('r-1', body);
  assert.equal(again.status, 409);
  const view = await server.admin.task('r-1');
  assert.equal(view.state, 'done');
  assert.equal(view.resultId, body.resultId);
  assert.equal(view.results.length, 1);
  assert.deepEqual(view.results[0]?.body, body);
  assert.equal(view.results[0]?.duplicates, 1);
});

test('another resultId for a task that has a result is answered 409 and not stored', async () => {
  await enqueueAndClaim('r-2');
  const first = resultBody({ workerId: 'res-w1' });
  assert.equal((await worker().postResult('r-2', first)).status, 200);
  assert.equal((await worker().postResult('r-2', resultBody({ workerId: 'res-w1' }))).status, 409);
  const view = await server.admin.task('r-2');
  assert.deepEqual(
    view.results.map((result) => result.resultId),
    [first.resultId],
  );
});

test('results are refused for unknown tasks (404) and invalid bodies or keys (400)', async () => {
  assert.equal((await worker().postResult('no-such-task', resultBody())).status, 404);
  await enqueueAndClaim('r-3');
  const invalid = { ...resultBody(), status: 'exploded' } as unknown as ReturnType<
    typeof resultBody
  >;
  assert.equal((await worker().postResult('r-3', invalid)).status, 400);
  const badCode = resultBody({
    status: 'failed',
    error: { code: 'NOPE' as 'TASK_ERROR', message: 'x' },
  });
  assert.equal((await worker().postResult('r-3', badCode)).status, 400);
  const valid = resultBody();
  assert.equal((await worker().postResult('r-3', valid, 'another-key')).status, 400);
  assert.equal((await worker().postResult('r-3', valid, '')).status, 400);
  assert.equal((await server.admin.task('r-3')).results.length, 0);
  assert.equal((await worker().postResult('r-3', valid)).status, 200);
});

test('redeliver without force: the re-sent stored result closes the task again', async () => {
  await enqueueAndClaim('r-4');
  const stored = resultBody({ workerId: 'res-w1' });
  assert.equal((await worker().postResult('r-4', stored)).status, 200);
  const queued = await server.admin.redeliver('r-4');
  assert.equal(queued.state, 'queued');
  assert.equal(queued.force, false);
  const task = await claimAgain('r-4');
  assert.equal(task.attempt, 2);
  assert.equal(task.force, false);
  assert.equal((await worker().postResult('r-4', stored)).status, 409);
  const view = await server.admin.task('r-4');
  assert.equal(view.state, 'done');
  assert.equal(view.results.length, 1);
});

test('redeliver with force: a new result of the new round is accepted', async () => {
  await enqueueAndClaim('r-5');
  const first = resultBody({ workerId: 'res-w1' });
  assert.equal((await worker().postResult('r-5', first)).status, 200);
  await server.admin.redeliver('r-5', { force: true });
  const task = await claimAgain('r-5');
  assert.equal(task.force, true);
  const second = resultBody({ workerId: 'res-w1', attempt: 2 });
  assert.equal((await worker().postResult('r-5', second)).status, 200);
  const view = await server.admin.task('r-5');
  assert.equal(view.state, 'done');
  assert.equal(view.resultId, second.resultId);
  assert.equal(view.results.length, 2);
});

test('admin results lists every stored body and counts the 409s', async () => {
  const { results, duplicates, conflicts } = await server.admin.results();
  const ids = new Set(results.map((result) => result.taskId));
  for (const id of ['r-1', 'r-2', 'r-3', 'r-4', 'r-5']) assert.ok(ids.has(id), id);
  assert.equal(results.length, 6);
  assert.equal(duplicates, 3, 'r-1 same id, r-2 other id, r-4 re-sent');
  assert.equal(conflicts, 1);
});

test('enqueue refuses a taken id with 409 and generates ids', async () => {
  await assert.rejects(
    server.admin.enqueue({ id: 'r-1', type: 'x', payload: null }),
    /answered 409/,
  );
  const generated = await server.admin.enqueue({ type: 'generated', payload: [1, 2] });
  assert.match(generated.id, /^t-/);
  assert.deepEqual(generated.payload, [1, 2]);
  await assert.rejects(server.admin.enqueue({ type: '', payload: null }), /answered 400/);
});
