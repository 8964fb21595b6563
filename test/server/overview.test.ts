import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fakeWorker, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer({ adminToken: 'ov-admin' });
});
after(() => server.close());

test('the overview stays small: the head of a long queue, results cut to a tail', async () => {
  for (let n = 0; n < 130; n++)
    await server.admin.enqueue({ id: `ov-${n}`, type: 'ov', payload: n });
  const worker = fakeWorker(server.url, {
    workerId: 'ov-worker',
    version: '1.4.2',
    platform: 'win32-x64',
  });
  assert.equal((await worker.claim(['ov'])).status, 200);
  const logs = Array.from({ length: 9 }, (_, n) => ({
    at: new Date().toISOString(),
    level: 'info' as const,
    msg: `line ${n} ${'x'.repeat(n === 8 ? 5000 : 0)}`,
  }));
  const body = resultBody({ workerId: 'ov-worker', output: 'y'.repeat(100_000), logs });
  assert.equal((await worker.postResult('ov-0', body)).status, 200);
  const overview = await server.admin.overview();
  assert.equal(overview.counts.queued, 129);
  assert.equal(overview.counts.done, 1);
  assert.equal(overview.queued.length, 100);
  assert.equal(overview.queued[0]?.id, 'ov-1');
  const [result] = overview.results;
  assert.equal(result?.taskId, 'ov-0');
  assert.equal(result?.type, 'ov');
  assert.ok((result?.output.length ?? 0) <= 301);
  assert.deepEqual(
    result?.logTail.map((line) => line.msg.slice(0, 6)),
    ['line 4', 'line 5', 'line 6', 'line 7', 'line 8'],
  );
  assert.ok((result?.logTail[4]?.msg.length ?? 0) <= 301);
  assert.deepEqual(
    overview.workers.map(({ id, version, platform, lastRoute, requests }) => [
      id,
      version,
      platform,
      lastRoute,
      requests,
    ]),
    [['ov-worker', '1.4.2', 'win32-x64', 'result', 2]],
  );
});
