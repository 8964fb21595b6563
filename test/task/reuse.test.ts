/**
 * Reused task processes (TASKS_PER_PROCESS > 1) and the extra spare when tasks queue up: real task
 * processes, run by the task runner as the worker has it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TASK_CHILD_FLAG } from '../../src/task/ipc.ts';
import { type ReuseLimits, TaskProcessPool } from '../../src/task/pool.ts';
import { TaskRunner } from '../../src/task/runner.ts';
import type { Task } from '../../src/wire/protocol.ts';
import { FIXTURE_TASKS } from '../fixtures/tasks.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

const ENTRY = fileURLToPath(new URL('../fixtures/entry.ts', import.meta.url));
const COMMAND = { file: process.execPath, args: [ENTRY, TASK_CHILD_FLAG] };

let taskCount = 0;
function task(type: string, payload: unknown, timeoutSec?: number): Task {
  taskCount++;
  const id = `t-${type}-${taskCount}`;
  return { id, type, payload, attempt: 1, force: false, ...(timeoutSec ? { timeoutSec } : {}) };
}

interface RunWith {
  signal?: AbortSignal;
  timeoutSec?: number;
}

/** A runner with a pool that reuses processes up to `limits.tasksPerProcess` tasks. */
function reusing(limits: Partial<ReuseLimits>, options: { ttlMs?: number } = {}) {
  const warm = new TaskProcessPool(options.ttlMs ?? 30_000, 1, {
    tasksPerProcess: 10,
    maxRssBytes: 0,
    ...limits,
  });
  const runner = new TaskRunner({
    registry: FIXTURE_TASKS,
    command: COMMAND,
    env: process.env,
    pool: warm,
    defaultTimeoutMs: 30_000,
    killGraceMs: 500,
    maxResultBytes: 1024 * 1024,
    scrub: (text) => text,
  });
  const run = async (
    type: string,
    payload: unknown = {},
    { signal = new AbortController().signal, timeoutSec = 0 }: RunWith = {},
  ) => {
    const outcome = await runner.run(task(type, payload, timeoutSec), { signal });
    runner.release();
    return outcome;
  };
  const pidOf = async (type: string, payload: unknown = {}) => {
    const outcome = await run(type, payload);
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome.error));
    return (JSON.parse(outcome.outputJson) as { pid: number }).pid;
  };
  return { warm, runner, run, pidOf, [Symbol.dispose]: () => runner.close() };
}

/** Whether a process is gone; a process being killed takes a moment to go. */
async function isGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe('reused task processes', { timeout: 120_000 }, () => {
  test('the second task in a process sees nothing of the first: timers, globals, listeners', async () => {
    using worker = reusing({});
    const first = JSON.parse((await worker.run('leaves')).outputJson) as Record<string, unknown>;
    // Long enough for the first task's 2 ms interval to tick many times, had it survived.
    const second = JSON.parse((await worker.run('leaves', { waitMs: 100 })).outputJson) as Record<
      string,
      unknown
    >;
    assert.equal(second.pid, first.pid, 'the same process ran both');
    const clean = {
      ticks: null,
      mark: null,
      structuredClone: '{"a":1}',
      sigusr2Listeners: 0,
    };
    assert.deepEqual({ ...first, pid: 0 }, { ...clean, pid: 0 }, 'a fresh process is clean');
    assert.deepEqual({ ...second, pid: 0 }, { ...clean, pid: 0 }, 'so is a reused one');
  });

  test('each task’s stdout all reaches its own log, none the next task’s, in one process', async () => {
    // The result says how many bytes its task wrote (they leave before it): the parent reads that
    // much, most often already read, and finishes without waiting turns for more.
    using worker = reusing({ tasksPerProcess: 30 });
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const flood = await worker.run('floods', { lines: 150 }); // 150 × 201 bytes
      assert.equal(flood.status, 'succeeded');
      assert.equal(flood.logsTruncated, false);
      assert.equal(flood.logs.length, 150, `task ${i}`);
      const quiet = await worker.run('whoami');
      assert.deepEqual(quiet.logs, [], `the task after task ${i}`);
      pids.add((JSON.parse(quiet.outputJson) as { pid: number }).pid);
    }
    assert.equal(pids.size, 1, 'one process ran them all');
  });

  test('no spare starts beside a task whose process comes back; one does beside its last task', async () => {
    using worker = reusing({ tasksPerProcess: 3 });
    /** The pool's spares while a 400 ms task runs (past SPARE_START_DELAY_MS), then its pid. */
    const sparesDuring = async () => {
      const running = worker.run('whoami', { ms: 400 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const spares = [...worker.warm.sparePids];
      const outcome = await running;
      assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome.error));
      return { spares, pid: (JSON.parse(outcome.outputJson) as { pid: number }).pid };
    };
    const first = await sparesDuring();
    assert.deepEqual(first.spares, [], 'its process comes back: no spare beside it');
    assert.deepEqual(worker.warm.sparePids, [first.pid], 'and it is back in the pool');
    const second = await sparesDuring();
    assert.equal(second.pid, first.pid);
    assert.deepEqual(second.spares, []);
    const last = await sparesDuring();
    assert.equal(last.pid, first.pid, 'its third and last task');
    assert.equal(last.spares.length, 1, 'a spare starts beside the last task');
    assert.notEqual(last.spares[0], first.pid);
  });

  test('a process is retired after TASKS_PER_PROCESS tasks', async () => {
    using worker = reusing({ tasksPerProcess: 3 });
    const pids = [];
    for (let i = 0; i < 4; i++) pids.push(await worker.pidOf('whoami'));
    const [a, b, c, d] = pids;
    assert.ok(a !== undefined && d !== undefined);
    assert.deepEqual([b, c], [a, a], 'three tasks in one process');
    assert.notEqual(d, a, 'the fourth in another');
    assert.ok(await isGone(a), 'the retired process is gone');
  });

  for (const [name, type, payload] of [
    ['a failure', 'throws', { message: 'no' }],
    ['a crash', 'exits', { code: 3 }],
    ['a rejected payload', 'whoami', { ms: 'soon' }],
  ] as const) {
    test(`a process is retired after ${name}`, async () => {
      using worker = reusing({});
      const before = await worker.pidOf('whoami');
      const bad = await worker.run(type, payload);
      assert.notEqual(bad.status, 'succeeded');
      const after = await worker.pidOf('whoami');
      assert.notEqual(after, before);
      assert.ok(await isGone(before), 'the process that ran it is gone');
    });
  }

  test('a process is retired after a timeout', async () => {
    using worker = reusing({});
    const before = await worker.pidOf('whoami');
    const stopped = await worker.run('hangs', {}, { timeoutSec: 1 });
    assert.equal(stopped.status, 'timed_out');
    assert.notEqual(await worker.pidOf('whoami'), before);
    assert.ok(await isGone(before));
  });

  test('a process is retired after a cancel', async () => {
    using worker = reusing({});
    const before = await worker.pidOf('whoami');
    const controller = new AbortController();
    const cancelled = worker.run('hangs', {}, { signal: controller.signal });
    setTimeout(() => controller.abort('cancel'), 500);
    assert.equal((await cancelled).status, 'cancelled');
    assert.notEqual(await worker.pidOf('whoami'), before);
    assert.ok(await isGone(before));
  });

  test('a process is retired when its memory passes REUSE_MAX_RSS', async () => {
    // A task process at rest is well under 150 MB; 200 MB more in module state is over it.
    using worker = reusing({ maxRssBytes: 150 * 2 ** 20 });
    const first = await worker.pidOf('whoami');
    assert.equal(await worker.pidOf('whoami'), first, 'under the limit: kept');
    assert.equal(await worker.pidOf('hoards', { mb: 200 }), first);
    assert.notEqual(await worker.pidOf('whoami'), first, 'over it: retired');
    assert.ok(await isGone(first));
  });

  test('a process left with a server listening is retired (no cleanup closes it)', async () => {
    using worker = reusing({});
    const first = await worker.pidOf('listens');
    assert.notEqual(await worker.pidOf('whoami'), first);
    assert.ok(await isGone(first));
  });

  for (const trap of ['rejects', 'spins'] as const) {
    test(`a task that leaves a trap for the cleanup (${trap}): its result stands, the next task gets another process`, async () => {
      using worker = reusing({});
      const trapped = await worker.pidOf('leavesTrap', { trap });
      const next = await worker.pidOf('whoami');
      assert.notEqual(next, trapped);
      assert.ok(await isGone(trapped));
    });
  }

  test('a task type defined `fresh` gets a process of its own every time', async () => {
    using worker = reusing({});
    const used = await worker.pidOf('whoami');
    const fresh1 = await worker.pidOf('whoamiFresh');
    const fresh2 = await worker.pidOf('whoamiFresh');
    assert.equal(new Set([used, fresh1, fresh2]).size, 3, 'never a used process, never kept');
    assert.equal(await worker.pidOf('whoami'), used, 'the used process waited for its next task');
    assert.ok(await isGone(fresh1));
  });

  test('an idle reused process is stopped after its time to live', async () => {
    using worker = reusing({}, { ttlMs: 1500 });
    const pid = await worker.pidOf('whoami');
    assert.ok(worker.warm.sparePids.includes(pid), 'kept for the next task');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.ok(!worker.warm.sparePids.includes(pid));
    assert.ok(await isGone(pid));
  });

  test('closing the pool stops the processes it keeps', async () => {
    const worker = reusing({});
    const pid = await worker.pidOf('whoami');
    worker.runner.close();
    assert.deepEqual(worker.warm.sparePids, []);
    assert.ok(await isGone(pid));
  });
});

describe('spares for fresh processes', { timeout: 60_000 }, () => {
  test('two tasks in a row that take a spare still starting: one spare more while tasks queue up', async () => {
    const warm = new TaskProcessPool(30_000, 1);
    const taken = [];
    try {
      warm.prepare(COMMAND, process.env);
      taken.push(warm.take(COMMAND, process.env));
      assert.equal(taken[0]?.ready, false, 'taken at once: still starting');
      warm.prepare(COMMAND, process.env);
      assert.equal(warm.sparePids.length, 1, 'one such task (a worker just started): no more');
      taken.push(warm.take(COMMAND, process.env));
      assert.equal(taken[1]?.ready, false);
      warm.prepare(COMMAND, process.env);
      assert.equal(warm.sparePids.length, 2, 'the second in a row: CONCURRENCY + 1 spares');
    } finally {
      for (const started of taken) started.child.kill();
      warm.close();
    }
  });
});

describe('TASKS_PER_PROCESS in a worker', { timeout: 120_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  test('a worker with TASKS_PER_PROCESS=3 runs three tasks per process, fresh types apart', async () => {
    for (let i = 0; i < 4; i++) {
      await server.admin.enqueue({ id: `tpp-${i}`, type: 'whoami', payload: {} });
    }
    await server.admin.enqueue({ id: 'tpp-4', type: 'whoamiFresh', payload: {} });
    const w = startWorker({ serverUrl: server.url, env: { HIVE_TASKS_PER_PROCESS: '3' } });
    try {
      const results = await waitForResults(server.admin, 'tpp-', 5, 60_000);
      const pidOf = (id: string) =>
        (
          results.find((result) => result.taskId === id)?.body.output as
            | { pid?: number }
            | undefined
        )?.pid;
      const pids = [0, 1, 2, 3, 4].map((i) => pidOf(`tpp-${i}`));
      assert.deepEqual(pids.slice(1, 3), [pids[0], pids[0]], 'three tasks in one process');
      assert.equal(new Set(pids).size, 3, 'the fourth in another, the fresh type in its own');
    } finally {
      await w.stop();
    }
  });
});
