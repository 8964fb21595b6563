/** Every result status produced for real: the fixture tasks run in real child processes. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TASK_CHILD_FLAG } from '../../src/task/ipc.ts';
import { type RunOptions, runInChild } from '../../src/task/parent.ts';
import { TaskProcessPool } from '../../src/task/pool.ts';
import { TaskRunner } from '../../src/task/runner.ts';
import type { Task } from '../../src/wire/protocol.ts';
import { FIXTURE_TASKS } from '../fixtures/tasks.ts';

const ENTRY = fileURLToPath(new URL('../fixtures/entry.ts', import.meta.url));

function task(type: string, payload: unknown): Task {
  return { id: `t-${type}`, type, payload, attempt: 1, force: false };
}

const COMMAND = {
  file: process.execPath,
  args: ['--max-old-space-size=64', ENTRY, TASK_CHILD_FLAG],
};
const scrub = (text: string) => text.replaceAll('s3cret-token', '[redacted]');

function run(type: string, payload: unknown, overrides: Partial<RunOptions> = {}) {
  return runInChild(task(type, payload), {
    command: COMMAND,
    env: process.env,
    timeoutMs: 10_000,
    killGraceMs: 500,
    maxResultBytes: 1024 * 1024,
    signal: new AbortController().signal,
    scrub,
    ...overrides,
  });
}

/** The task runner as the worker has it: spares are its to start (src/task/runner.ts). */
function runnerWith(warm: TaskProcessPool, spareStartDelayMs?: number): TaskRunner {
  return new TaskRunner({
    ...(spareStartDelayMs === undefined ? {} : { spareStartDelayMs }),
    registry: FIXTURE_TASKS,
    command: COMMAND,
    env: process.env,
    pool: warm,
    defaultTimeoutMs: 10_000,
    killGraceMs: 500,
    maxResultBytes: 1024 * 1024,
    scrub,
  });
}

const runOn = (runner: TaskRunner, type: string, payload: unknown) =>
  runner.run(task(type, payload), { signal: new AbortController().signal });

describe('a task in a child process', () => {
  test('succeeded: the output is the JSON value returned', async () => {
    const outcome = await run('echo', { a: [1, 'two', null] });
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(JSON.parse(outcome.outputJson), { a: [1, 'two', null] });
    assert.equal(outcome.error, null);
  });

  test('rejected/BAD_PAYLOAD: the payload fails the schema, naming the field', async () => {
    const outcome = await run('sleep', { ms: 'soon' });
    assert.equal(outcome.status, 'rejected');
    assert.equal(outcome.error?.code, 'BAD_PAYLOAD');
    assert.match(outcome.error?.message ?? '', /ms/);
  });

  test('rejected/UNKNOWN_TASK: the child refuses a type it does not know', async () => {
    const outcome = await run('constructor', {});
    assert.equal(outcome.status, 'rejected');
    assert.equal(outcome.error?.code, 'UNKNOWN_TASK');
  });

  test('rejected/UNKNOWN_TASK: the runner answers an unknown type without starting a process', async () => {
    const runner = new TaskRunner({
      registry: FIXTURE_TASKS,
      // A process started from this would fail: the answer must come before any start.
      command: { file: '/nonexistent/worker', args: [] },
      env: process.env,
      defaultTimeoutMs: 10_000,
      killGraceMs: 500,
      maxResultBytes: 1024,
      scrub,
    });
    for (const type of ['resize', 'constructor', '__proto__']) {
      const outcome = await runOn(runner, type, {});
      assert.equal(outcome.status, 'rejected', type);
      assert.equal(outcome.error?.code, 'UNKNOWN_TASK');
      assert.match(outcome.error?.message ?? '', /no task named .* \(it has: .*whoami/);
    }
  });

  test('failed/TASK_ERROR: a throw carries its message, and the task log tail comes back', async () => {
    const outcome = await run('throws', { message: 'disk on fire' });
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.code, 'TASK_ERROR');
    assert.equal(outcome.error?.message, 'disk on fire');
    assert.deepEqual(
      outcome.logs.map((line) => [line.level, line.msg]),
      [['warn', 'about to throw']],
    );
  });

  test('failed/CRASHED: process.exit in the task', async () => {
    const outcome = await run('exits', { code: 7 });
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.code, 'CRASHED');
    assert.match(outcome.error?.message ?? '', /exited with code 7/);
  });

  test('failed/CRASHED: a task that allocates until it dies is reported out of memory', async () => {
    const outcome = await run('leaks', {});
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.code, 'CRASHED');
    assert.match(outcome.error?.message ?? '', /out of memory/);
  });

  test('timed_out/TIMEOUT: a hang is aborted, and one that ignores the abort is killed', async () => {
    for (const ignoreAbort of [false, true]) {
      const started = Date.now();
      const outcome = await run('hangs', { ignoreAbort }, { timeoutMs: 800, killGraceMs: 300 });
      assert.equal(outcome.status, 'timed_out');
      assert.equal(outcome.error?.code, 'TIMEOUT');
      assert.ok(Date.now() - started < 5000, 'stopped promptly');
    }
  });

  test('cancelled: CANCELLED from the server, SHUTDOWN from the worker', async () => {
    for (const reason of ['cancel', 'shutdown'] as const) {
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 500);
      const outcome = await run(
        'hangs',
        { ignoreAbort: true },
        { signal: controller.signal, killGraceMs: 200 },
      );
      assert.equal(outcome.status, 'cancelled');
      assert.equal(outcome.error?.code, reason === 'cancel' ? 'CANCELLED' : 'SHUTDOWN');
    }
  });

  test('failed: output that is not JSON-serializable, or over the size limit', async () => {
    const bigint = await run('unserializable', {});
    assert.equal(bigint.status, 'failed');
    assert.match(bigint.error?.message ?? '', /not JSON-serializable/);
    const huge = await run('huge', { bytes: 2000 }, { maxResultBytes: 1024 });
    assert.equal(huge.status, 'failed');
    assert.match(huge.error?.message ?? '', /over MAX_RESULT_BYTES \(1024\)/);
  });

  test('a stdout flood is survived; the log tail stays within 64 KiB and says it was cut', async () => {
    const outcome = await run('floods', { lines: 50_000 });
    assert.equal(outcome.status, 'succeeded');
    assert.deepEqual(JSON.parse(outcome.outputJson), { wrote: 50_000 });
    assert.equal(outcome.logsTruncated, true);
    assert.ok(Buffer.byteLength(JSON.stringify(outcome.logs)) <= 64 * 1024);
  });

  test('task log lines are scrubbed of secrets and keep their order', async () => {
    const outcome = await run('logs', { lines: 3, text: 'token=s3cret-token' });
    assert.deepEqual(
      outcome.logs.map((line) => line.msg),
      ['token=[redacted] 0', 'token=[redacted] 1', 'token=[redacted] 2', 'from console.log'],
    );
  });

  test('warm children: the next process is started during a task; each task still gets a fresh one', async () => {
    const warm = new TaskProcessPool(10_000);
    const runner = runnerWith(warm);
    try {
      const first = await runOn(runner, 'whoami', { ms: 200 });
      const [spare] = warm.sparePids;
      assert.ok(spare !== undefined, 'a spare was started while the first task ran');
      const second = await runOn(runner, 'whoami', {});
      assert.equal(
        (JSON.parse(second.outputJson) as { pid: number }).pid,
        spare,
        'the second task ran in the spare',
      );
      assert.notEqual(
        (JSON.parse(first.outputJson) as { pid: number }).pid,
        spare,
        'a fresh process per task',
      );
      await runOn(runner, 'whoami', { ms: 200 });
      // One for one task at a time; two when the tasks took spares still starting (a loaded
      // machine): two such takes in a row read as a queue, which gets one spare more.
      assert.ok(
        [1, 2].includes(warm.sparePids.length),
        `one spare for one task at a time (two when queueing), got ${warm.sparePids.length}`,
      );
      assert.ok(!warm.sparePids.includes(spare), 'new ones');
    } finally {
      warm.close();
    }
  });

  test('warm children: a task shorter than the spare delay gets none while it runs; release starts it', async () => {
    // A delay no task here reaches, however loaded the machine: what is tested is who starts it.
    const warm = new TaskProcessPool(10_000);
    const runner = runnerWith(warm, 60_000);
    try {
      await runOn(runner, 'whoami', {});
      assert.deepEqual(warm.sparePids, [], 'no spare while it ran');
      runner.release();
      assert.equal(warm.sparePids.length, 1, 'its result on its way, the next process starts');
    } finally {
      warm.close();
    }
  });

  test('warm children: while tasks queue up, a take starts the next processes at once; alone, none does', async () => {
    const warm = new TaskProcessPool(10_000);
    const taken: ReturnType<TaskProcessPool['take']>[] = [];
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
    try {
      // Two takes in a row of a spare still starting (none says `ready` within one turn): a queue.
      warm.prepare(COMMAND, process.env);
      taken.push(warm.take(COMMAND, process.env));
      await nextTurn();
      assert.deepEqual(warm.sparePids, [], 'one such take is a worker just started: no start');
      warm.prepare(COMMAND, process.env);
      taken.push(warm.take(COMMAND, process.env));
      assert.deepEqual(warm.sparePids, [], 'not in the take itself: its task is sent first');
      await nextTurn();
      assert.equal(warm.sparePids.length, 2, 'queueing: one per slot and one more, no release');
    } finally {
      for (const started of taken) warm.retire(started);
      warm.close();
    }
  });

  test('warm children: an unused spare is stopped after its time to live', async () => {
    // Started directly: how long a task takes on a loaded machine must not eat the spare's TTL.
    const warm = new TaskProcessPool(1500);
    warm.prepare(COMMAND, process.env);
    const [spare] = warm.sparePids;
    assert.ok(spare !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.deepEqual(warm.sparePids, []);
    assert.throws(() => process.kill(spare, 0), 'the spare process is gone');
  });

  test('warm children: one spare per task that may run at once, each task in its own process', async () => {
    const warm = new TaskProcessPool(10_000, 2);
    const runner = runnerWith(warm);
    try {
      const first = await runOn(runner, 'whoami', { ms: 200 });
      const spares = warm.sparePids;
      assert.equal(spares.length, 2, 'two spares for CONCURRENCY = 2');
      const [second, third] = await Promise.all([
        runOn(runner, 'whoami', { ms: 200 }),
        runOn(runner, 'whoami', { ms: 200 }),
      ]);
      const pids = [first, second, third].map(
        (outcome) => (JSON.parse(outcome.outputJson) as { pid: number }).pid,
      );
      assert.equal(new Set(pids).size, 3, 'a fresh process per task');
      assert.deepEqual(pids.slice(1).sort(), [...spares].sort(), 'the two tasks ran in the spares');
      // Two, or three when both tasks took spares still starting on a loaded machine: two takes of a
      // starting spare in a row read as a queue, which gets one spare more (pool.ts).
      assert.ok(
        [2, 3].includes(warm.sparePids.length),
        `two new spares wait (three when queueing), got ${warm.sparePids.length}`,
      );
    } finally {
      warm.close();
    }
  });
});
