/**
 * The fault rules a worker's 1.1 tests need, on the real server: answers lost after the server
 * committed (a result with next, a batch, a release), per-entry statuses in a batch, the batch
 * endpoint missing, an answer without X-Hive-Protocol. Nothing committed is lost or doubled.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import {
  BatchResultsAnswerSchema,
  ClaimManyAnswerSchema,
  ResultAnswerSchema,
} from '../../src/wire/protocol.ts';
import {
  enqueueEach,
  fakeWorker,
  resultBody,
  startTestServer,
  type TestServer,
} from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
beforeEach(() => server.admin.clearFaults());
after(() => server.close());

const enqueue = (type: string, ids: string[]) => enqueueEach(server.admin, type, ids, () => null);

test('a result with next whose answer is lost after commit: the re-send gets 409 and the same tasks', async () => {
  await enqueue('lost_next', ['ln-1', 'ln-2', 'ln-3']);
  const worker = fakeWorker(server.url, { workerId: 'f11-w1' });
  assert.equal((await worker.claimMany(['lost_next'], 1)).status, 200);
  await server.admin.faults([{ route: 'result', taskId: 'ln-1', dropAfterCommit: true }]);
  const body = { ...resultBody({ workerId: 'f11-w1' }), next: { max: 1 } };
  await assert.rejects(worker.postResult('ln-1', body), /fetch failed/);
  const stored = await server.admin.task('ln-1');
  assert.equal(stored.resultId, body.resultId, 'committed before the answer was cut');
  assert.equal((await server.admin.task('ln-2')).leasedTo, 'f11-w1');
  const again = await worker.postResult('ln-1', body);
  assert.equal(again.status, 409);
  assert.deepEqual(
    ResultAnswerSchema.parse(again.json).next?.tasks.map((task) => task.id),
    ['ln-2'],
  );
  assert.equal((await server.admin.task('ln-3')).state, 'queued');
  assert.equal((await server.admin.results()).results.filter((r) => r.taskId === 'ln-1').length, 1);
});

test('a batch answer lost after commit: the re-sent batch is all 409 with the same next', async () => {
  await enqueue('lost_batch', ['lb-1', 'lb-2', 'lb-3', 'lb-4']);
  const worker = fakeWorker(server.url, { workerId: 'f11-w2' });
  assert.equal((await worker.claimMany(['lost_batch'], 2)).status, 200);
  const entries = ['lb-1', 'lb-2'].map((taskId) => ({
    taskId,
    ...resultBody({ workerId: 'f11-w2' }),
  }));
  await server.admin.faults([{ route: 'results', dropAfterCommit: true }]);
  await assert.rejects(worker.postResults(entries, { max: 2 }), /fetch failed/);
  const answer = BatchResultsAnswerSchema.parse(
    (await worker.postResults(entries, { max: 2 })).json,
  );
  assert.deepEqual(
    answer.results.map((entry) => entry.status),
    [409, 409],
  );
  assert.deepEqual(
    answer.next?.tasks.map((task) => task.id),
    ['lb-3', 'lb-4'],
  );
  const metrics = await (await fetch(new URL('metrics', server.url))).text();
  assert.match(metrics, /hive_server_result_batches_total\{status="dropped"\} 1\n/);
});

test('result-entry rules answer one entry 429/503 with retryAfterSec and leave it unrecorded', async () => {
  await enqueue('entry_fault', ['ef-1', 'ef-2', 'ef-3']);
  const worker = fakeWorker(server.url, { workerId: 'f11-w3' });
  assert.equal((await worker.claimMany(['entry_fault'], 3)).status, 200);
  await server.admin.faults([
    { route: 'result-entry', taskId: 'ef-2', status: 429, retryAfterSec: 3 },
    { route: 'result-entry', taskId: 'ef-3', status: 503 },
  ]);
  const entries = ['ef-1', 'ef-2', 'ef-3'].map((taskId) => ({
    taskId,
    ...resultBody({ workerId: 'f11-w3' }),
  }));
  const answer = BatchResultsAnswerSchema.parse((await worker.postResults(entries)).json);
  assert.deepEqual(
    answer.results.map(({ status, retryAfterSec }) => [status, retryAfterSec]),
    [
      [200, undefined],
      [429, 3],
      [503, undefined],
    ],
  );
  assert.equal((await server.admin.task('ef-2')).state, 'leased');
  // Sent again (the rules are used up), both are taken: nothing lost.
  const again = BatchResultsAnswerSchema.parse((await worker.postResults(entries.slice(1))).json);
  assert.deepEqual(
    again.results.map((entry) => entry.status),
    [200, 200],
  );
});

test('the batch endpoint can answer 404/405/501 as a whole; an answer can lack X-Hive-Protocol', async () => {
  await server.admin.faults([
    { route: 'results', status: 404 },
    { route: 'results', status: 405, headers: { allow: 'GET' } },
    { route: 'results', status: 501 },
    { route: 'claim', status: 502, body: 'bad gateway', protocolHeader: false },
  ]);
  const worker = fakeWorker(server.url, { workerId: 'f11-w4' });
  const entry = { taskId: 'nope', ...resultBody() };
  for (const status of [404, 405, 501]) {
    const answer = await worker.postResults([entry]);
    assert.equal(answer.status, status);
    assert.equal(answer.headers.get('x-hive-protocol'), '1.1');
  }
  const proxied = await worker.claim(['x']);
  assert.equal(proxied.status, 502);
  assert.equal(proxied.headers.get('x-hive-protocol'), null);
  assert.equal((await worker.claim(['x'])).headers.get('x-hive-protocol'), '1.1');
});

test('a release whose answer is lost after commit: the task is queued; releasing again is 409', async () => {
  await enqueue('lost_release', ['lr-1']);
  const worker = fakeWorker(server.url, { workerId: 'f11-w5' });
  const claimed = ClaimManyAnswerSchema.parse((await worker.claimMany(['lost_release'], 1)).json);
  assert.equal(claimed.tasks[0]?.id, 'lr-1');
  await server.admin.faults([{ route: 'release', dropAfterCommit: true }]);
  await assert.rejects(worker.release('lr-1'), /fetch failed/);
  assert.equal((await server.admin.task('lr-1')).state, 'queued');
  assert.equal((await worker.release('lr-1')).status, 409);
});

test('fault rules that make no sense are refused with the reason', async () => {
  const refused = [
    [{ route: 'result-entry' }, /needs a status/],
    [{ route: 'result-entry', status: 503, delayMs: 5 }, /delayMs does not apply/],
    [{ route: 'claim', status: 503, retryAfterSec: 1 }, /result-entry rules only/],
    [{ route: 'result', status: 500, dropAfterCommit: true }, /lets the real handler answer/],
  ] as const;
  for (const [rule, reason] of refused)
    await assert.rejects(server.admin.faults([rule as never]), reason);
  assert.deepEqual(await fetchFaults(), []);
});

async function fetchFaults(): Promise<unknown[]> {
  return (
    (await (await fetch(new URL('admin/faults', server.url))).json()) as { faults: unknown[] }
  ).faults;
}
