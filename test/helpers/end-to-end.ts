/**
 * The end-to-end scenarios, written once and run against each way the worker ships: from source
 * (node + test/fixtures/entry.ts) and as the single executable built from the same entry. A real
 * worker process against the real reference server on 127.0.0.1, tasks in real child processes.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { allGone, fixturePids, killQuietly } from './processes.ts';
import { startTestServer, statusSummary, type TestServer, waitForResults } from './server.ts';
import { startWorker, tempDir } from './worker.ts';

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
        { id: 'e2e-hangs', type: 'hangs', payload: {}, timeoutSec: 0.5 },
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

    test('kill -9 of the worker: a CPU-spinning task, a task that spawned a grandchild, and the grandchildren are gone within seconds', async () => {
      const tasks = [
        { id: 'e2e-spins', type: 'spins', payload: { grandchild: true }, leaseSec: 600 },
        { id: 'e2e-spawns', type: 'spawns', payload: { after: 'hang' }, leaseSec: 600 },
      ];
      for (const task of tasks) await server.admin.enqueue(task);
      const w = worker({ serverUrl: server.url, env: { HIVE_CONCURRENCY: '2' } });
      let pids: number[] = [];
      try {
        await w.waitForOutput(/spinning in \d+ \(grandchild \d+\)/, 30_000);
        await w.waitForOutput(/grandchild \d+ of \d+/, 30_000);
        const { tasks: taskPids, grandchildren } = fixturePids(w.output());
        pids = [...taskPids, ...grandchildren];
        assert.equal(pids.length, 4, w.output());
        await w.stop('SIGKILL');
        // The spinning task never sees its IPC channel close: the worker's guardian ends it.
        assert.ok(await allGone(pids, 10_000), `all of ${pids.join(', ')} gone`);
      } finally {
        await w.stop('SIGKILL');
        killQuietly(pids);
        for (const task of tasks) await server.admin.cancel(task.id);
      }
    });

    test('two workers started in the same tick on one data folder: one runs, the other exits 75', async () => {
      const first = worker({ serverUrl: server.url });
      const second = worker({ serverUrl: server.url, dataDir: first.dataDir });
      try {
        const loser = await Promise.race([
          first.exitedWithin(30_000).then((exit) => ({ exit, loser: first, winner: second })),
          second.exitedWithin(30_000).then((exit) => ({ exit, loser: second, winner: first })),
        ]);
        assert.equal(loser.exit.code, 75, loser.loser.output());
        await loser.winner.waitForOutput(/worker id/);
        assert.equal(loser.winner.child.exitCode, null, 'the other one runs');
      } finally {
        await Promise.all([first.stop(), second.stop()]);
      }
    });

    test('a lock left before a reboot (its pid now a live, unrelated process) does not keep the worker down', async () => {
      const dataDir = tempDir('hive-reboot-');
      writeFileSync(
        join(dataDir, 'worker.lock'),
        JSON.stringify({
          pid: process.pid, // alive: this test process
          startedAt: 'before the reboot',
          bootId: '00000000-0000-4000-8000-000000000000',
          startTicks: '4242',
        }),
      );
      await server.admin.enqueue({ id: 'e2e-after-reboot', type: 'echo', payload: 1 });
      const w = worker({ serverUrl: server.url, dataDir, args: ['--once'] });
      const exit = await w.exitedWithin(30_000);
      assert.equal(exit.code, 0, w.output());
      assert.equal((await server.admin.task('e2e-after-reboot')).state, 'done');
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
