/**
 * The worker speaking protocol 1.1 (docs/protocol.md, "Version 1.1") with real worker processes
 * and the real reference server: several tasks per claim, the next tasks in a result's answer,
 * results in batches, held tasks given back on a stop; and version 1 to a server that does not
 * say 1.1 (started so, or rolled back mid-run). Each asserts every task ran once, nothing lost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  enqueueNumbered,
  startTestServer,
  statusSummary,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

/** The requests the server saw, as `METHOD /path status`. */
const requests: string[] = [];
const seen = (pattern: RegExp) => requests.filter((line) => pattern.test(line));

let server: TestServer;
before(async () => {
  server = await startTestServer({ log: (line) => requests.push(line) });
});
after(() => server?.close());

const enqueue = (prefix: string, count: number, type = 'echo', payload: unknown = 1) =>
  enqueueNumbered(server.admin, prefix, count, { type, payload });

/** Every task of `prefix` done, once each, succeeded. */
async function allDoneOnce(prefix: string, ids: string[]) {
  const results = await waitForResults(server.admin, prefix, ids.length, 30_000);
  assert.deepEqual(
    statusSummary(results),
    Object.fromEntries(ids.map((id) => [id, 'succeeded/-'])),
  );
  for (const id of ids) {
    const task = await server.admin.task(id);
    assert.equal(task.results.length, 1, `${id}: one result`);
  }
}

describe('protocol 1.1 in the worker', () => {
  test('1.1 server: tasks come by claims with max and by results’ next, results in batches, each task once', async () => {
    await server.admin.setProtocol('1.1');
    requests.length = 0;
    const ids = await enqueue('p11-', 12);
    const w = startWorker({
      serverUrl: server.url,
      env: { HIVE_CONCURRENCY: '2', HIVE_PREFETCH: '2' },
    });
    try {
      await allDoneOnce('p11-', ids);
      assert.ok(seen(/^POST \/api\/tasks\/results 200/).length > 0, 'results went in batches');
      assert.deepEqual(seen(/^POST \/api\/tasks\/[^/]+\/result /), [], 'none alone');
      // Most tasks came in results' answers: far fewer claims than tasks.
      const claims = seen(/^POST \/api\/tasks\/claim 200/).length;
      assert.ok(claims < ids.length / 2, `${claims} claims for ${ids.length} tasks`);
    } finally {
      await w.stop();
    }
    assert.doesNotMatch(w.output(), /WARN|ERROR/);
  });

  test('with long polls (WAIT_SEC 25), tasks a result’s answer brings do not wait behind a claim', async () => {
    await server.admin.setProtocol('1.1');
    const ids = await enqueue('lp-', 2);
    const startedAt = Date.now();
    const w = startWorker({
      serverUrl: server.url,
      env: { HIVE_WAIT_SEC: '25', HIVE_PREFETCH: '1' },
    });
    try {
      await allDoneOnce('lp-', ids);
      // A claim held open with tasks waiting in the worker would take 25 s.
      assert.ok(Date.now() - startedAt < 20_000, `${Date.now() - startedAt} ms`);
    } finally {
      await w.stop();
    }
  });

  test('version-1 server (--protocol 1): one task per claim, one result per POST, no 1.1 request', async () => {
    await server.admin.setProtocol('1');
    requests.length = 0;
    const ids = await enqueue('p1-', 6, 'logs', { lines: 1, text: 'said by' });
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '4' } });
    try {
      await allDoneOnce('p1-', ids);
      assert.deepEqual(seen(/tasks\/results|\/release /), [], 'no 1.1 endpoint asked');
      // CONCURRENCY 1: the console reads in order: each task's "claimed", its own lines, then its
      // "succeeded", before the next task's "claimed".
      await w.waitForOutput(new RegExp(`task ${ids.at(-1)} succeeded`));
      const out = w.output();
      const lines = out
        .split('\n')
        .filter((line) => /claimed task p1-|said by 0|task p1-\d+ succ/.test(line));
      const expected = ids.flatMap((id) => [
        `claimed task ${id} `,
        'said by 0',
        `task ${id} succeeded`,
      ]);
      assert.equal(lines.length, expected.length, out);
      for (const [i, line] of lines.entries()) {
        assert.ok(line.includes(expected[i] ?? '?'), `${i}: ${line}\n${out}`);
      }
      assert.equal(seen(/^POST \/api\/tasks\/[^/]+\/result 20/).length, ids.length);
    } finally {
      await w.stop();
      await server.admin.setProtocol('1.1');
    }
  });

  test('a server rolled back to version 1 mid-run: the worker follows its latest answer, nothing lost', async () => {
    await server.admin.setProtocol('1.1');
    requests.length = 0;
    const first = await enqueue('roll-a-', 4, 'sleep', { ms: 150 });
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '2' } });
    try {
      await server.admin.waitFor(() => seen(/^POST \/api\/tasks\/results 200/).length > 0, 20_000);
      await server.admin.setProtocol('1');
      const rolledAt = requests.length;
      const second = await enqueue('roll-b-', 4);
      await allDoneOnce('roll-', [...first, ...second]);
      // After the first answer without the header, no 1.1 request: at most the one that got it.
      const later = requests
        .slice(rolledAt)
        .filter((line) => /tasks\/results|\/release /.test(line));
      assert.ok(later.length <= 1, later.join('\n'));
    } finally {
      await w.stop();
      await server.admin.setProtocol('1.1');
    }
  });

  test('a clean SIGTERM drain gives back held tasks (not started), logs no warning; they run once elsewhere', async () => {
    await server.admin.setProtocol('1.1');
    requests.length = 0;
    // The first claim is version 1's (no answer has said 1.1 yet); drain-0's result brings 4.
    const ids = [
      ...(await enqueue('drain-', 1)),
      ...(await enqueue('drain-s', 4, 'sleep', { ms: 1500 })),
    ];
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '3' } });
    await w.waitForOutput(/claimed task drain-s0/);
    const { code } = await w.stop('SIGTERM');
    assert.equal(code, 0);
    assert.doesNotMatch(w.output(), /WARN|ERROR/, 'a clean stop says nothing alarming');
    // PREFETCH 3 holds 3 while drain-0 took under HOLD_BUDGET_MS / 3; a slow first task (a cold
    // process on a busy machine) holds fewer (prefetchNow). Either way each held one is given back.
    const gaveBack = /gave back (\d) held task\(s\) not started \(shutdown\)/.exec(w.output());
    const held = Number(gaveBack?.[1]);
    assert.ok(held >= 1 && held <= 3, w.output());
    assert.equal(seen(/^POST \/api\/tasks\/[^/]+\/release 20/).length, held);
    // The given-back tasks are queued again with no attempt counted; another worker runs them.
    const next = startWorker({ serverUrl: server.url });
    try {
      await allDoneOnce('drain-', ids);
      for (const id of ids.slice(2)) {
        assert.equal((await server.admin.task(id)).results[0]?.body.attempt, 1, id);
      }
    } finally {
      await next.stop();
    }
  });

  test('a held task the server cancels is reported cancelled/CANCELLED when its turn comes, never run', async () => {
    await server.admin.setProtocol('1.1');
    // The first claim is version 1's; cx-0's result brings cx-s0 (runs) and cx-held (held: PREFETCH 1).
    await enqueue('cx-', 1);
    await enqueue('cx-s', 1, 'sleep', { ms: 2500 });
    await server.admin.enqueue({ id: 'cx-held', type: 'echo', payload: 1, leaseSec: 3 });
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '1' } });
    try {
      await w.waitForOutput(/claimed task cx-s0/);
      await server.admin.cancel('cx-held');
      // Its heartbeats (every leaseSec / 3 = 1 s) hear of it while cx-s0 still runs.
      await w.waitForOutput(/held task cx-held will not run: /);
      const results = await waitForResults(server.admin, 'cx-', 3, 30_000);
      assert.deepEqual(statusSummary(results), {
        'cx-0': 'succeeded/-',
        'cx-s0': 'succeeded/-',
        'cx-held': 'cancelled/CANCELLED',
      });
    } finally {
      await w.stop();
    }
    // Answered without a process: no task process could start, run and stop in under 10 ms.
    assert.match(w.output(), /task cx-held cancelled in \d ms: CANCELLED/);
  });

  test('batch endpoint answers 404: results go one by one from then on, nothing lost', async () => {
    await server.admin.setProtocol('1.1');
    requests.length = 0;
    await server.admin.faults([{ route: 'results', status: 404, times: -1 }]);
    const ids = await enqueue('b404-', 5);
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PREFETCH: '1' } });
    try {
      await allDoneOnce('b404-', ids);
      assert.equal(seen(/^POST \/api\/tasks\/results 404/).length, 1, 'tried once, remembered');
      const singles = seen(/^POST \/api\/tasks\/[^/]+\/result 20/);
      assert.equal(singles.length, ids.length, requests.join('\n'));
    } finally {
      await w.stop();
      await server.admin.clearFaults();
    }
  });

  test('mixed statuses in one batch answer: a 503 entry is kept and re-sent, the others taken', async () => {
    await server.admin.setProtocol('1.1');
    requests.length = 0;
    await server.admin.faults([
      { route: 'result-entry', taskId: 'mix-1', status: 503, retryAfterSec: 0.2, times: 1 },
    ]);
    const ids = await enqueue('mix-', 4);
    const w = startWorker({
      serverUrl: server.url,
      env: { HIVE_CONCURRENCY: '4', HIVE_PREFETCH: '0' },
    });
    try {
      await allDoneOnce('mix-', ids);
      assert.match(w.output(), /kept in the outbox to re-send: .*503/, 'the 503 entry was kept');
      assert.deepEqual(await server.admin.faults([]), [], 'and its rule was used');
    } finally {
      await w.stop();
      await server.admin.clearFaults();
    }
  });
});
