/**
 * The worker end to end, from source: a real worker process against the real reference server
 * on 127.0.0.1, tasks in real child processes.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { startWorker } from './helpers/worker.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

describe('worker end to end', () => {
  test('every result status is produced for real, and the worker survives all of them', async () => {
    const enqueued = [
      { id: 'e2e-echo', type: 'echo', payload: { hello: 'world' } },
      { id: 'e2e-sleep', type: 'sleep', payload: { ms: 200 } },
      { id: 'e2e-bad', type: 'sleep', payload: { ms: 'later' } },
      { id: 'e2e-unknown', type: 'resize_image', payload: {} },
      { id: 'e2e-throws', type: 'throws', payload: { message: 'no such file' } },
      { id: 'e2e-exits', type: 'exits', payload: { code: 3 } },
      { id: 'e2e-leaks', type: 'leaks', payload: {} },
      { id: 'e2e-hangs', type: 'hangs', payload: {}, timeoutSec: 0.5 },
    ];
    for (const task of enqueued) await server.admin.enqueue(task);
    // The reference server only sends types the worker lists; make it deliver an unknown one,
    // as a server that ignores the list would.
    await server.admin.faults([
      {
        route: 'claim',
        status: 200,
        body: JSON.stringify({
          task: { id: 'e2e-unknown', type: 'resize_image', payload: {}, attempt: 1 },
        }),
      },
    ]);
    const worker = startWorker({ serverUrl: server.url });
    try {
      const results = await server.admin.waitFor(async () => {
        const { results } = await server.admin.results();
        const ours = results.filter((result) => result.taskId.startsWith('e2e-'));
        return ours.length === enqueued.length ? ours : undefined;
      }, 60_000);
      const byTask = new Map(results.map((result) => [result.taskId, result.body]));
      const summary = Object.fromEntries(
        [...byTask].map(([id, body]) => [id, `${body.status}/${body.error?.code ?? '-'}`]),
      );
      assert.deepEqual(summary, {
        'e2e-echo': 'succeeded/-',
        'e2e-sleep': 'succeeded/-',
        'e2e-bad': 'rejected/BAD_PAYLOAD',
        'e2e-unknown': 'rejected/UNKNOWN_TASK',
        'e2e-throws': 'failed/TASK_ERROR',
        'e2e-exits': 'failed/CRASHED',
        'e2e-leaks': 'failed/CRASHED',
        'e2e-hangs': 'timed_out/TIMEOUT',
      });
      const echo = byTask.get('e2e-echo');
      assert.deepEqual(echo?.output, { hello: 'world' });
      assert.match(echo?.workerId ?? '', new RegExp(`^${hostname()}-[0-9a-f]{8}$`));
      assert.equal(echo?.workerVersion, '1.0.0');
      assert.equal(echo?.attempt, 1);
      assert.ok(Date.parse(echo?.startedAt ?? '') <= Date.parse(echo?.finishedAt ?? ''));
      assert.match(byTask.get('e2e-throws')?.error?.message ?? '', /no such file/);
      assert.ok(worker.child.exitCode === null, 'the worker is still running');
      await worker.waitForOutput(/task e2e-hangs timed_out/);
    } finally {
      const exit = await worker.stop('SIGTERM');
      assert.equal(exit.code, 0, worker.output());
    }
  });

  test('--once handles one task and exits 0', async () => {
    await server.admin.enqueue({ id: 'once-1', type: 'echo', payload: 1 });
    const worker = startWorker({ serverUrl: server.url, args: ['--once'] });
    const exit = await worker.exited;
    assert.equal(exit.code, 0, worker.output());
    assert.equal((await server.admin.task('once-1')).state, 'done');
  });
});

describe('bad input at start', () => {
  test('a bad setting stops the worker with exit code 78 and one line naming it, no stack trace', async () => {
    const worker = startWorker({ serverUrl: 'not a url', env: { HIVE_NO_TASK_SLEEP: 'abc' } });
    const exit = await worker.exited;
    assert.equal(exit.code, 78);
    assert.match(
      worker.output(),
      /Expected SERVER_URL to be an http:\/\/ or https:\/\/ URL, got "not a url" \(from HIVE_SERVER_URL\)/,
    );
    assert.match(
      worker.output(),
      /Expected NO_TASK_SLEEP to be a number of seconds ≥ 0, got "abc"/,
    );
    assert.doesNotMatch(worker.output(), /\n\s+at /, 'no stack trace');
  });

  test('a second worker on the same data folder exits at once naming the running one', async () => {
    const first = startWorker({ serverUrl: server.url });
    await first.waitForOutput(/worker id/);
    const second = startWorker({ serverUrl: server.url, dataDir: first.dataDir });
    const exit = await second.exited;
    assert.equal(exit.code, 75);
    assert.match(second.output(), new RegExp(`another worker \\(pid ${first.child.pid}`));
    await first.stop();
  });
});
