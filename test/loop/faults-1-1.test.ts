/**
 * Protocol 1.1 against a misbehaving server, on real worker processes: an answer lost after the
 * server leased tasks in it, a worker killed (-9) while it holds tasks it has not started, held
 * tasks kept alive by heartbeats while they wait. Each ends with every task run to one result.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  enqueueNumbered,
  startTestServer,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

const requests: string[] = [];
const seen = (pattern: RegExp) => requests.filter((line) => pattern.test(line));

let server: TestServer;
before(async () => {
  server = await startTestServer({ log: (line) => requests.push(line) });
});
after(() => server?.close());

const enqueue = (prefix: string, count: number, task: { type: string; payload: unknown }) =>
  enqueueNumbered(server.admin, prefix, count, { leaseSec: 2, ...task });

/** Every task of `prefix` has one result, succeeded; returns each one's attempt. */
async function oneResultEach(prefix: string, ids: string[]): Promise<Record<string, number>> {
  await waitForResults(server.admin, prefix, ids.length, 30_000);
  const attempts: Record<string, number> = {};
  for (const id of ids) {
    const { results } = await server.admin.task(id);
    assert.equal(results.length, 1, `${id}: one result`);
    assert.equal(results[0]?.body.status, 'succeeded', id);
    attempts[id] = results[0]?.body.attempt ?? 0;
  }
  return attempts;
}

describe('protocol 1.1 faults', () => {
  test('a batch answer lost after the server leased tasks in it: the re-send gets the same tasks, each runs once, no lease lapses', async () => {
    requests.length = 0;
    const ids = [
      ...(await enqueue('lost-', 1, { type: 'echo', payload: 1 })),
      ...(await enqueue('lost-n', 3, { type: 'sleep', payload: { ms: 100 } })),
    ];
    // The first batch (lost-0's result, asking for tasks) is stored and its next leased; the
    // connection is cut instead of the answer.
    await server.admin.faults([{ route: 'results', dropAfterCommit: true, times: 1 }]);
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '3' } });
    try {
      const attempts = await oneResultEach('lost-', ids);
      assert.deepEqual(Object.values(attempts), [1, 1, 1, 1], 'no task was handed out twice');
      assert.equal(seen(/^POST \/api\/tasks\/results dropped/).length, 1);
    } finally {
      await w.stop();
      await server.admin.clearFaults();
    }
  });

  test('kill -9 while holding prefetched tasks: their leases lapse and they run once, elsewhere', async () => {
    const ids = [
      ...(await enqueue('kill-', 1, { type: 'echo', payload: 1 })),
      ...(await enqueue('kill-s', 4, { type: 'sleep', payload: { ms: 3000 } })),
    ];
    const a = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '3' } });
    await a.waitForOutput(/claimed task kill-s0/);
    await a.stop('SIGKILL');
    const b = startWorker({ serverUrl: server.url, env: { HIVE_CONCURRENCY: '4' } });
    try {
      const attempts = await oneResultEach('kill-', ids);
      // kill-s0 was started by the killed worker (attempt 2 here); the held ones were never run.
      assert.equal(attempts['kill-s0'], 2);
    } finally {
      await b.stop();
    }
  });

  test('held tasks are heart-beaten while they wait: a lease shorter than the wait never lapses', async () => {
    requests.length = 0;
    // Each sleep outlasts the held ones' 2 s lease: without heartbeats they would lapse and run twice.
    const ids = [
      ...(await enqueue('beat-', 1, { type: 'echo', payload: 1 })),
      ...(await enqueue('beat-s', 3, { type: 'sleep', payload: { ms: 2500 } })),
    ];
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '2' } });
    try {
      const attempts = await oneResultEach('beat-', ids);
      assert.deepEqual(Object.values(attempts), [1, 1, 1, 1]);
      assert.ok(
        seen(/^POST \/api\/tasks\/beat-s2\/heartbeat 200/).length >= 2,
        'beaten while held',
      );
    } finally {
      await w.stop();
    }
  });
});
