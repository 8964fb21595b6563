/**
 * CONCURRENCY: how many tasks run at once, each in its own process. Real worker processes against
 * the reference server; overlap is judged from the results' own startedAt / finishedAt.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { StoredResult } from '../../scripts/server/views.ts';
import { readRecordedStatus } from '../../src/loop/status-file.ts';
import { TASK_CHILD_FLAG } from '../../src/task/flag.ts';
import {
  startTestServer,
  statusSummary,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

/** The worker's task processes (its other child is the task-process guardian, a /bin/sh). */
function taskProcessesOf(pid: number): string[] {
  // ps exits 1 when no process matches.
  return spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => line.includes(TASK_CHILD_FLAG));
}

/** The most tasks that ran at the same moment, from their [startedAt, finishedAt] intervals. */
function mostAtOnce(results: StoredResult[]): number {
  const edges = results.flatMap(({ body }) => [
    { at: Date.parse(body.startedAt), delta: 1 },
    { at: Date.parse(body.finishedAt), delta: -1 },
  ]);
  // Ends before starts at the same instant: touching intervals do not overlap.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.delta;
    most = Math.max(most, now);
  }
  return most;
}

async function enqueueSleeps(server: TestServer, prefix: string, count: number, ms: number) {
  for (let i = 0; i < count; i++) {
    await server.admin.enqueue({ id: `${prefix}${i}`, type: 'sleep', payload: { ms } });
  }
}

/** Waits until the worker's status.json lists two running tasks, and returns them. */
function twoRunning(server: TestServer, dataDir: string) {
  return server.admin.waitFor(() => {
    const current = readRecordedStatus(dataDir)?.currentTasks ?? [];
    return current.length === 2 ? current : undefined;
  }, 20_000);
}

describe('CONCURRENCY', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  test('2: two tasks run at once, never three, each claimed once; --status lists both', async () => {
    await enqueueSleeps(server, 'c2-', 5, 800);
    const w = startWorker({ serverUrl: server.url, env: { HIVE_CONCURRENCY: '2' } });
    try {
      // status.json (what `worker --status` reads) shows both running tasks.
      const both = await twoRunning(server, w.dataDir);
      assert.equal(new Set(both.map((task) => task.id)).size, 2);
      const results = await waitForResults(server.admin, 'c2-', 5, 30_000);
      assert.deepEqual(
        Object.values(statusSummary(results)),
        Array(5).fill('succeeded/-'),
        w.output(),
      );
      assert.equal(mostAtOnce(results), 2, 'two at once, and never more');
      assert.match(w.output(), /tasks +.*\(up to 2 at once\)/, 'the banner says so');
      const claims = w.logLines().filter((line) => /claimed task c2-/.test(line.msg));
      assert.equal(claims.length, 5, 'each task claimed once');
      // status.json is rewritten a moment after a change (status-file.ts), not in step with the
      // server: wait for it, as a person running `worker --status` would see it.
      const idle = await server.admin
        .waitFor(
          () => (readRecordedStatus(w.dataDir)?.currentTasks.length === 0 ? true : undefined),
          5_000,
        )
        .catch(() => false);
      assert.ok(
        idle,
        `no task left listed as running: ${JSON.stringify(readRecordedStatus(w.dataDir))}`,
      );
    } finally {
      const exit = await w.stop();
      assert.equal(exit.code, 0, w.output());
    }
  });

  test('1 (the default): one task at a time', async () => {
    await enqueueSleeps(server, 'c1-', 3, 300);
    const w = startWorker({ serverUrl: server.url });
    try {
      const results = await waitForResults(server.admin, 'c1-', 3, 30_000);
      assert.equal(mostAtOnce(results), 1);
    } finally {
      await w.stop();
    }
  });

  test('SIGTERM with two tasks running: both finish within SHUTDOWN_GRACE and are reported, exit 0', async () => {
    await enqueueSleeps(server, 'cs-', 2, 1200);
    const w = startWorker({ serverUrl: server.url, env: { HIVE_CONCURRENCY: '2' } });
    await twoRunning(server, w.dataDir);
    const exit = await w.stop('SIGTERM');
    assert.equal(exit.code, 0, w.output());
    assert.match(w.output(), /waiting up to 5 s for 2 running tasks/);
    const results = await waitForResults(server.admin, 'cs-', 2, 10_000);
    assert.deepEqual(statusSummary(results), { 'cs-0': 'succeeded/-', 'cs-1': 'succeeded/-' });
  });

  test('WARM_START: a spare task process waits after a task; with false, none does', async () => {
    for (const [warmStart, spares] of [
      ['true', 1],
      ['false', 0],
    ] as const) {
      await server.admin.enqueue({ id: `ws-${warmStart}`, type: 'echo', payload: 1 });
      const w = startWorker({ serverUrl: server.url, env: { HIVE_WARM_START: warmStart } });
      try {
        await waitForResults(server.admin, `ws-${warmStart}`, 1, 20_000);
        await new Promise((resolve) => setTimeout(resolve, 300)); // the task's process exits
        assert.equal(taskProcessesOf(w.child.pid ?? 0).length, spares, `WARM_START=${warmStart}`);
      } finally {
        await w.stop();
      }
    }
  });

  test('TASKS_PER_PROCESS: a kept process is the only one of its slot, idle or running a task', async () => {
    await server.admin.enqueue({ id: 'kept-0', type: 'whoami', payload: {} });
    const w = startWorker({ serverUrl: server.url, env: { HIVE_TASKS_PER_PROCESS: '100' } });
    try {
      await waitForResults(server.admin, 'kept-0', 1, 20_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(taskProcessesOf(w.child.pid ?? 0).length, 1, 'idle: the kept one, no spare');
      await server.admin.enqueue({ id: 'kept-1', type: 'whoami', payload: { ms: 1500 } });
      await server.admin.waitFor(
        async () => (await server.admin.task('kept-1')).state === 'leased',
      );
      await new Promise((resolve) => setTimeout(resolve, 500)); // past SPARE_START_DELAY_MS
      assert.equal(taskProcessesOf(w.child.pid ?? 0).length, 1, 'running: none beside it');
      const results = await waitForResults(server.admin, 'kept-', 2, 20_000);
      const pids = results.map(({ body }) => (body.output as { pid: number }).pid);
      assert.equal(pids[0], pids[1], 'both tasks in the same process');
    } finally {
      await w.stop();
    }
  });

  test('a bad value stops the worker with exit 78, naming the setting', async () => {
    const w = startWorker({ serverUrl: server.url, env: { HIVE_CONCURRENCY: '0' } });
    const exit = await w.exitedWithin(10_000);
    assert.equal(exit.code, 78);
    assert.match(w.output(), /CONCURRENCY to be a whole number from 1 to 64, got "0"/);
  });
});
