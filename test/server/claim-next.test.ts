/**
 * Protocol 1.1-b and 1.1-c on the real server over HTTP: several tasks per claim, and the next
 * tasks in a result's answer, the same ones again for a re-sent resultId.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ResultAnswerSchema, TaskSchema } from '../../src/wire/protocol.ts';
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

function nextOf(answer: { json: unknown }): string[] {
  const next = ResultAnswerSchema.parse(answer.json).next;
  assert.ok(next !== undefined, `no next in ${JSON.stringify(answer.json)}`);
  return next.tasks.map((task) => task.id);
}

test('a claim with max gets 1…max tasks, oldest first, as { tasks }; 204 when none', async () => {
  await enqueue('many', ['m-1', 'm-2', 'm-3']);
  const worker = fakeWorker(server.url, { workerId: 'many-w1' });
  const first = tasksOf(await worker.claimMany(['many'], 2));
  assert.deepEqual(
    first.map((task) => [task.id, task.attempt]),
    [
      ['m-1', 1],
      ['m-2', 1],
    ],
  );
  assert.deepEqual(
    tasksOf(await worker.claimMany(['many'], 64)).map((task) => task.id),
    ['m-3'],
  );
  const none = await worker.claimMany(['many'], 5);
  assert.equal(none.status, 204);
  for (const id of ['m-1', 'm-2', 'm-3']) {
    const view = await server.admin.task(id);
    assert.equal(view.state, 'leased');
    assert.equal(view.leasedTo, 'many-w1');
  }
});

test('max outside 1…64 is a 400; without max the answer is the version-1 { task }', async () => {
  const worker = fakeWorker(server.url, { workerId: 'many-w2' });
  for (const max of [0, 65, 1.5]) {
    const answer = await worker.claimMany(['bounds'], max);
    assert.equal(answer.status, 400, `max ${max}: ${answer.text}`);
    assert.match(answer.text, /max/);
  }
  await enqueue('bounds', ['b-1']);
  const plain = await worker.claim(['bounds']);
  assert.equal(plain.status, 200);
  assert.deepEqual(Object.keys(plain.json as object), ['task']);
  assert.equal(TaskSchema.parse((plain.json as { task: unknown }).task).id, 'b-1');
});

test('a long poll with max is answered with the tasks enqueued while it waits', async () => {
  const worker = fakeWorker(server.url, { workerId: 'many-w3' });
  const pending = worker.claimMany(['poll_many'], 3, 10);
  await server.admin.waitFor(async () => {
    const metrics = await (await fetch(new URL('metrics', server.url))).text();
    return metrics.includes('hive_server_long_polls_waiting 1\n');
  });
  await enqueue('poll_many', ['p-1']);
  assert.deepEqual(
    tasksOf(await pending).map((task) => task.id),
    ['p-1'],
  );
});

test("a result's next leases tasks of the worker's last claimed types; a re-sent resultId gets the same ones", async () => {
  await enqueue('chain', ['n-1', 'n-2', 'n-3', 'n-4']);
  const worker = fakeWorker(server.url, { workerId: 'next-w1' });
  const [first] = tasksOf(await worker.claimMany(['chain'], 1));
  assert.equal(first?.id, 'n-1');
  const body = { ...resultBody({ workerId: 'next-w1' }), next: { max: 2 } };
  const answer = await worker.postResult('n-1', body);
  assert.equal(answer.status, 200, answer.text);
  assert.deepEqual(nextOf(answer), ['n-2', 'n-3']);
  const leased = await server.admin.task('n-2');
  assert.equal(leased.leasedTo, 'next-w1');
  assert.equal(leased.attempt, 1);

  // The answer was lost: the same body again is 409 (recorded) with the SAME tasks, not n-4.
  const again = await worker.postResult('n-1', body);
  assert.equal(again.status, 409, again.text);
  assert.deepEqual(nextOf(again), ['n-2', 'n-3']);
  assert.equal((await server.admin.task('n-4')).state, 'queued');
  assert.equal((await server.admin.task('n-2')).attempt, 1, 'no second delivery counted');

  // Once one of them has its result, a third re-send returns only the other one.
  const n2 = resultBody({ workerId: 'next-w1' });
  assert.equal((await worker.postResult('n-2', n2)).status, 200);
  assert.deepEqual(nextOf(await worker.postResult('n-1', body)), ['n-3']);
});

test('a re-sent resultId gets nothing back once its tasks lapsed to another worker', async () => {
  await server.admin.enqueue({ id: 'l-1', type: 'lapse_next', payload: null });
  await server.admin.enqueue({ id: 'l-2', type: 'lapse_next', payload: null, leaseSec: 1 });
  const worker = fakeWorker(server.url, { workerId: 'next-w2' });
  tasksOf(await worker.claimMany(['lapse_next'], 1));
  const body = { ...resultBody({ workerId: 'next-w2' }), next: { max: 1 } };
  assert.deepEqual(nextOf(await worker.postResult('l-1', body)), ['l-2']);
  const other = fakeWorker(server.url, { workerId: 'next-w3' });
  const taken = await server.admin.waitFor(async () => {
    const answer = await other.claimMany(['lapse_next'], 1);
    return answer.status === 200 ? tasksOf(answer) : undefined;
  });
  assert.deepEqual(
    taken.map((task) => [task.id, task.attempt]),
    [['l-2', 2]],
  );
  const again = await worker.postResult('l-1', body);
  assert.equal(again.status, 409);
  assert.deepEqual(nextOf(again), [], 'never a second set, never the other worker’s task');
});

test('next: a worker that never claimed gets none; max 0 gets none; bad max is a 400; no next, no field', async () => {
  await enqueue('strangers', ['s-1', 's-2']);
  const stranger = fakeWorker(server.url, { workerId: 'next-w4' });
  // s-1 is leased to next-w5; next-w4, which never claimed, posts a result for it.
  const claimer = fakeWorker(server.url, { workerId: 'next-w5' });
  tasksOf(await claimer.claimMany(['strangers'], 1));
  const body = { ...resultBody({ workerId: 'next-w4' }), next: { max: 3 } };
  assert.deepEqual(nextOf(await stranger.postResult('s-1', body)), []);
  assert.equal((await server.admin.task('s-2')).state, 'queued');

  const zero = { ...resultBody({ workerId: 'next-w5' }), next: { max: 0 } };
  assert.deepEqual(nextOf(await claimer.postResult('s-1', zero)), []);
  const bad = await claimer.postResult('s-1', {
    ...resultBody({ workerId: 'next-w5' }),
    next: { max: 65 },
  });
  assert.equal(bad.status, 400, bad.text);
  const plain = await claimer.postResult('s-1', resultBody({ workerId: 'next-w5' }));
  assert.equal(plain.status, 409);
  assert.equal((plain.json as { next?: unknown }).next, undefined);
  assert.equal((await server.admin.task('s-2')).state, 'queued');
});

test('a result for an unknown task is 404 and leases nothing', async () => {
  await enqueue('unknown_next', ['u-1']);
  const worker = fakeWorker(server.url, { workerId: 'next-w6' });
  await worker.claimMany(['unknown_next', 'nothing'], 1);
  await server.admin.redeliver('u-1');
  const answer = await worker.postResult('no-such-task', {
    ...resultBody({ workerId: 'next-w6' }),
    next: { max: 5 },
  });
  assert.equal(answer.status, 404);
  assert.equal((answer.json as { next?: unknown }).next, undefined);
  assert.equal((await server.admin.task('u-1')).state, 'queued');
});

test('a claim over several types takes tasks in queue order, a lapsed lease at its old place', async () => {
  // No sweep: the lapsed lease is still `leased` in the table when it is claimed again.
  const unswept = await startTestServer({ leaseCheckMs: 600_000 });
  try {
    for (const [id, type, leaseSec] of [
      ['o-1', 'order_x', 1],
      ['o-2', 'order_y', 60],
      ['o-3', 'order_x', 60],
      ['o-4', 'order_y', 60],
    ] as const)
      await unswept.admin.enqueue({ id, type, payload: null, leaseSec });
    const first = fakeWorker(unswept.url, { workerId: 'order-w1' });
    assert.deepEqual(
      tasksOf(await first.claimMany(['order_x'], 1)).map((task) => task.id),
      ['o-1'],
    );
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal((await unswept.admin.task('o-1')).state, 'leased');
    const second = fakeWorker(unswept.url, { workerId: 'order-w2' });
    assert.deepEqual(
      tasksOf(await second.claimMany(['order_y', 'order_x'], 3)).map((task) => [
        task.id,
        task.attempt,
      ]),
      [
        ['o-1', 2],
        ['o-2', 1],
        ['o-3', 1],
      ],
    );
  } finally {
    await unswept.close();
  }
});
