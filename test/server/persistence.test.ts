import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ResultAnswerSchema, TaskSchema } from '../../src/wire/protocol.ts';
import { fakeWorker, resultBody, type SpawnedServer, spawnServer } from '../helpers/server.ts';

let server: SpawnedServer;
before(async () => {
  server = await spawnServer();
});
after(() => server.dispose());

test('the CLI prints exactly its listening line', () => {
  assert.equal(server.output, `hive-server listening on ${server.url}\n`);
});

test('tasks, leases and results survive a SIGKILL and a restart on the same port', async () => {
  const port = server.port;
  const worker = fakeWorker(server.url, { workerId: 'persist-w1' });
  await server.admin.enqueue({ id: 'p-done', type: 'persist', payload: { n: 1 } });
  await server.admin.enqueue({ id: 'p-leased', type: 'persist', payload: { n: 2 }, leaseSec: 30 });
  await server.admin.enqueue({ id: 'p-queued', type: 'persist_later', payload: { n: 3 } });
  assert.equal((await worker.claim(['persist'])).status, 200);
  const leased = await worker.claim(['persist']);
  assert.equal(TaskSchema.parse((leased.json as { task: unknown }).task).id, 'p-leased');
  const result = resultBody({ workerId: 'persist-w1' });
  assert.equal((await worker.postResult('p-done', result)).status, 200);
  const firstPid = server.pid;

  await server.kill();
  await server.restart();
  assert.notEqual(server.pid, firstPid);
  assert.equal(server.port, port);

  const tasks = new Map((await server.admin.tasks()).map((task) => [task.id, task]));
  assert.equal(tasks.get('p-done')?.state, 'done');
  assert.deepEqual(tasks.get('p-done')?.results[0]?.body, result);
  assert.equal(tasks.get('p-leased')?.state, 'leased');
  assert.equal(tasks.get('p-queued')?.state, 'queued');
  // The lease is still the worker's: its heartbeat is accepted, and nobody else gets the task.
  assert.equal((await worker.heartbeat('p-leased')).status, 200);
  assert.equal(
    (await fakeWorker(server.url, { workerId: 'persist-w2' }).claim(['persist'])).status,
    204,
  );
  assert.equal((await worker.postResult('p-done', result)).status, 409, 'still recorded once');
  const claimed = await worker.claim(['persist_later']);
  assert.equal(TaskSchema.parse((claimed.json as { task: unknown }).task).id, 'p-queued');
});

test('SIGTERM closes the server cleanly (exit code 0)', async () => {
  assert.equal(await server.stop(), 0);
  await server.restart();
  assert.equal((await server.admin.tasks()).length, 3);
});

test("protocol 1.1: a result's next tasks and the worker's types survive a SIGKILL", async () => {
  const worker = fakeWorker(server.url, { workerId: 'persist-w3' });
  for (const id of ['pn-1', 'pn-2', 'pn-3'])
    await server.admin.enqueue({ id, type: 'persist_next', payload: null });
  assert.equal((await worker.claimMany(['persist_next'], 1)).status, 200);
  const body = { ...resultBody({ workerId: 'persist-w3' }), next: { max: 1 } };
  const nextIds = (answer: { json: unknown }) =>
    ResultAnswerSchema.parse(answer.json).next?.tasks.map((task) => task.id);
  assert.deepEqual(nextIds(await worker.postResult('pn-1', body)), ['pn-2']);

  await server.kill();
  await server.restart();
  assert.deepEqual(nextIds(await worker.postResult('pn-1', body)), ['pn-2'], 'the same task');
  // The types of its last claim were kept too: a new result's next leases pn-3.
  const second = { ...resultBody({ workerId: 'persist-w3' }), next: { max: 1 } };
  assert.deepEqual(nextIds(await worker.postResult('pn-2', second)), ['pn-3']);
});
