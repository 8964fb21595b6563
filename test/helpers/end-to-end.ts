/**
 * The end-to-end scenarios, written once and run against each way the worker ships: from source
 * (node + test/fixtures/entry.ts) and as the single executable built from the same entry. A real
 * worker process against the real reference server on 127.0.0.1, tasks in real child processes.
 */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { startTestServer, statusSummary, type TestServer, waitForResults } from './server.ts';
import { startWorker } from './worker.ts';

export interface Program {
  file: string;
  args: string[];
}

export interface EndToEndTarget {
  /** Said in the test names: "from source", "single executable". */
  name: string;
  /** The program to start; called once, before the first scenario (it may build it). */
  program: () => Program | Promise<Program>;
  /** What the worker reports as its version. */
  version: string;
}

export function endToEndScenarios(target: EndToEndTarget): void {
  let server: TestServer;
  let command: Program;
  const worker = (options: Omit<Parameters<typeof startWorker>[0], 'command'>) =>
    startWorker({ ...options, command });

  describe(`worker end to end (${target.name})`, () => {
    before(async () => {
      command = await target.program();
      server = await startTestServer();
    });
    after(() => server?.close());

    test('every result status is produced for real, and the worker survives all of them', async () => {
      const enqueued = [
        { id: 'e2e-echo', type: 'echo', payload: { hello: 'world' } },
        { id: 'e2e-sleep', type: 'sleep', payload: { ms: 200 } },
        { id: 'e2e-bad', type: 'sleep', payload: { ms: 'later' } },
        { id: 'e2e-unknown', type: 'resize_image', payload: {} },
        { id: 'e2e-throws', type: 'throws', payload: { message: 'no such file' } },
        { id: 'e2e-exits', type: 'exits', payload: { code: 3 } },
        { id: 'e2e-leaks', type: 'leaks', payload: {} },
        { id: 'e2e-hangs', type: 'hangs', payload: {}, timeoutSec: 1 },
        { id: 'e2e-limits', type: 'limits', payload: {} },
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
      const w = worker({ serverUrl: server.url });
      try {
        const results = await waitForResults(server.admin, 'e2e-', enqueued.length, 60_000);
        const byTask = new Map(results.map((result) => [result.taskId, result.body]));
        assert.deepEqual(statusSummary(results), {
          'e2e-echo': 'succeeded/-',
          'e2e-sleep': 'succeeded/-',
          'e2e-bad': 'rejected/BAD_PAYLOAD',
          'e2e-unknown': 'rejected/UNKNOWN_TASK',
          'e2e-throws': 'failed/TASK_ERROR',
          'e2e-exits': 'failed/CRASHED',
          'e2e-leaks': 'failed/CRASHED',
          'e2e-hangs': 'timed_out/TIMEOUT',
          'e2e-limits': 'succeeded/-',
        });
        const echo = byTask.get('e2e-echo');
        assert.deepEqual(echo?.output, { hello: 'world' });
        assert.match(echo?.workerId ?? '', new RegExp(`^${hostname()}-[0-9a-f]{8}$`));
        assert.equal(echo?.workerVersion, target.version);
        assert.equal(echo?.attempt, 1);
        assert.ok(Date.parse(echo?.startedAt ?? '') <= Date.parse(echo?.finishedAt ?? ''));
        assert.match(byTask.get('e2e-throws')?.error?.message ?? '', /no such file/);
        assert.match(byTask.get('e2e-exits')?.error?.message ?? '', /exited with code 3/);
        // TASK_MAX_HEAP (64 MB in tests) reached the task process: it died of it, quickly.
        assert.match(byTask.get('e2e-leaks')?.error?.message ?? '', /ran out of memory/);
        // …and so did TASK_V8_FLAGS: V8's limit is the old generation (64 MB) plus a young one of
        // three 4 MB semi-spaces; V8's default young generation would make it 160 MB.
        const limits = byTask.get('e2e-limits')?.output as { heapSizeLimitMb: number } | undefined;
        assert.equal(limits?.heapSizeLimitMb, 64 + 3 * 4);
        assert.ok(w.child.exitCode === null, 'the worker is still running');
        await w.waitForOutput(/task e2e-hangs timed_out/);
      } finally {
        const exit = await w.stop('SIGTERM');
        assert.equal(exit.code, 0, w.output());
      }
    });

    test('SIGTERM during a task: the task finishes within SHUTDOWN_GRACE, is reported, exit 0', async () => {
      await server.admin.enqueue({ id: 'e2e-drain', type: 'sleep', payload: { ms: 600 } });
      const w = worker({ serverUrl: server.url });
      await w.waitForOutput(/claimed task e2e-drain/);
      const exit = await w.stop('SIGTERM');
      assert.equal(exit.code, 0, w.output());
      assert.match(w.output(), /task e2e-drain succeeded/);
      const task = await server.admin.task('e2e-drain');
      assert.equal(task.results[0]?.body.status, 'succeeded');
    });

    test('--once handles one task and exits 0', async () => {
      await server.admin.enqueue({ id: 'once-1', type: 'echo', payload: 1 });
      const w = worker({ serverUrl: server.url, args: ['--once'] });
      const exit = await w.exited;
      assert.equal(exit.code, 0, w.output());
      assert.equal((await server.admin.task('once-1')).state, 'done');
    });

    test('a bad setting stops the worker with exit code 78 and one line naming it, no stack trace', async () => {
      const w = worker({ serverUrl: 'not a url', env: { HIVE_NO_TASK_SLEEP: 'abc' } });
      const exit = await w.exited;
      assert.equal(exit.code, 78);
      assert.match(
        w.output(),
        /Expected SERVER_URL to be an http:\/\/ or https:\/\/ URL, got "not a url" \(from HIVE_SERVER_URL\)/,
      );
      assert.match(w.output(), /Expected NO_TASK_SLEEP to be a number of seconds ≥ 0, got "abc"/);
      assert.doesNotMatch(w.output(), /\n\s+at /, 'no stack trace');
    });

    test('a second worker on the same data folder exits at once naming the running one', async () => {
      const first = worker({ serverUrl: server.url });
      await first.waitForOutput(/worker id/);
      const second = worker({ serverUrl: server.url, dataDir: first.dataDir });
      const exit = await second.exited;
      assert.equal(exit.code, 75);
      assert.match(second.output(), new RegExp(`another worker \\(pid ${first.child.pid}`));
      await first.stop();
    });
  });
}
