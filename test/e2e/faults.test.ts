/**
 * The fault suite: real worker processes against the real reference server (a child process we
 * can kill), with network and process faults injected. Every task must end up stored by the
 * server exactly once; the summary at the end counts faults, tasks, deliveries, duplicates and losses.
 * The same table runs twice: against a server speaking protocol 1.1 (results go in batches: the
 * faults name `results` and `result-entry`) and against one speaking version 1 (one result per
 * POST: `result`). Protocol 1.1's own faults (next, release) are test/loop/faults-1-1.test.ts's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { FaultRuleInput } from '../../scripts/server/faults.ts';
import { allGone, fixturePids, isRunning, killQuietly, programOf } from '../helpers/processes.ts';
import { type SpawnedServer, spawnServer } from '../helpers/server.ts';
import { startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

let server: SpawnedServer;
let protocol: '1' | '1.1';
let tally = { faults: 0, tasks: new Set<string>(), forced: new Set<string>() };

for (const version of ['1.1', '1'] as const) {
  describe(`against a server speaking protocol ${version}`, () => {
    before(async () => {
      protocol = version;
      tally = { faults: 0, tasks: new Set<string>(), forced: new Set<string>() };
      server = await spawnServer({ protocol: version });
    });
    // A rule a test left unused must not hit the next one (a stopped server has none to clear).
    afterEach(() => server.admin.clearFaults().catch(() => undefined));
    after(summary);
    faultSuite();
  });
}

async function summary(): Promise<void> {
  const { results } = await server.admin.results();
  const perTask = new Map<string, number>();
  for (const result of results) perTask.set(result.taskId, (perTask.get(result.taskId) ?? 0) + 1);
  const duplicates = [...perTask].filter(
    ([id, count]) => count > 1 && !tally.forced.has(id),
  ).length;
  const lostIds = [...tally.tasks].filter((id) => !perTask.has(id));
  const lost = lostIds.length;
  const delivered = [...tally.tasks].filter((id) => perTask.has(id)).length;
  console.log(
    `fault suite (protocol ${protocol}): ${tally.faults} faults injected, ${tally.tasks.size} tasks run, ` +
      `${delivered} results delivered, ${duplicates} duplicates stored, ${lost} results lost`,
  );
  await server.dispose();
  assert.equal(duplicates, 0, 'no task stored twice');
  assert.equal(lost, 0, `no result lost (lost: ${lostIds.join(', ')})`);
}

/** A fault on the requests that carry results: `result` (version 1), or the batch (1.1). */
function onResults(rule: Omit<FaultRuleInput, 'route'>): FaultRuleInput {
  return { route: protocol === '1' ? 'result' : 'results', ...rule } as FaultRuleInput;
}

/**
 * One result answered with a status of its own: the whole answer to its POST (version 1), or its
 * entry in a batch answer (1.1; a 404 for the whole batch would mean "no batch endpoint").
 */
function onOneResult(status: number, body: string, retryAfterSec?: number): FaultRuleInput {
  if (protocol === '1') {
    const headers =
      retryAfterSec === undefined ? {} : { headers: { 'retry-after': `${retryAfterSec}` } };
    return { route: 'result', status, body, ...headers } as FaultRuleInput;
  }
  const wait = retryAfterSec === undefined ? {} : { retryAfterSec };
  return { route: 'result-entry', status, ...wait } as FaultRuleInput;
}

async function enqueue(task: {
  id: string;
  type: string;
  payload: unknown;
  timeoutSec?: number;
  leaseSec?: number;
}) {
  tally.tasks.add(task.id);
  return server.admin.enqueue(task);
}

function injected(count = 1): void {
  tally.faults += count;
}

function worker(options: { dataDir?: string; env?: Record<string, string> } = {}): WorkerProcess {
  return startWorker({ serverUrl: server.url, ...options });
}

async function resultOf(taskId: string, timeoutMs = 20_000) {
  return server.admin.waitFor(async () => {
    const task = await server.admin.task(taskId);
    return task.results.length > 0 && task.resultId !== null ? task : undefined;
  }, timeoutMs);
}

/** Pids of the direct children of `pid` (Linux /proc via ps). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((child) => child > 0);
  } catch {
    return [];
  }
}

function faultSuite(): void {
  describe('network faults', () => {
    test('server down at start, then coming back', async () => {
      await server.stop();
      injected();
      const w = worker();
      try {
        await w.waitForOutput(/claim failed: .*\(retrying in /);
        await server.launch();
        await enqueue({ id: 'down-at-start', type: 'echo', payload: 1 });
        const task = await resultOf('down-at-start');
        assert.equal(task.results[0]?.body.status, 'succeeded');
      } finally {
        await w.stop();
      }
    });

    test('server dying mid-task: the result waits in the outbox and is delivered after it returns', async () => {
      const w = worker();
      try {
        await enqueue({ id: 'server-dies', type: 'sleep', payload: { ms: 1500 } });
        await w.waitForOutput(/claimed task server-dies/);
        await server.kill();
        injected();
        await w.waitForOutput(/task server-dies succeeded/);
        await w.waitForOutput(/result not delivered, kept in the outbox/);
        assert.equal(readdirSync(join(w.dataDir, 'outbox')).length, 1, 'the result is on disk');
        await server.launch();
        const task = await resultOf('server-dies');
        assert.equal(task.results.length, 1);
        await server.admin.waitFor(() => readdirSync(join(w.dataDir, 'outbox')).length === 0);
      } finally {
        await w.stop();
      }
    });

    test('a result POST that times out is re-sent with the same resultId and stored once', async () => {
      await server.admin.faults([onResults({ delayMs: 2500 })]);
      injected();
      const w = worker({ env: { HIVE_REQUEST_TIMEOUT: '1' } });
      try {
        await enqueue({ id: 'post-timeout', type: 'echo', payload: 'slow' });
        await w.waitForOutput(/result not delivered/);
        const task = await resultOf('post-timeout');
        assert.equal(task.results.length, 1);
        // Give the first, delayed POST time to land too: still one result.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        assert.equal((await server.admin.task('post-timeout')).results.length, 1);
      } finally {
        await w.stop();
      }
    });

    test('a result POST held for seconds does not hold up the next task (its slot freed once handed over)', async () => {
      await server.admin.faults([onResults({ delayMs: 6000 })]);
      injected();
      const w = worker();
      try {
        await enqueue({ id: 'held-a', type: 'echo', payload: 'a' });
        await w.waitForOutput(/task held-a succeeded/);
        await enqueue({ id: 'held-b', type: 'echo', payload: 'b' });
        // held-b runs and is recorded while held-a's POST is still held by the server (under 1.1
        // the loop waits at most NEXT_WAIT_MS for that answer's next tasks, then claims).
        await resultOf('held-b');
        assert.equal((await server.admin.task('held-a')).results.length, 0, 'a is still held');
        const b = await resultOf('held-b', 30_000);
        const a = await resultOf('held-a');
        assert.equal(a.results.length, 1);
        assert.equal(b.results.length, 1);
      } finally {
        await w.stop();
      }
    });

    test('500 on results for a while: claiming goes on, every result arrives once', async () => {
      await server.admin.faults([onResults({ status: 500, body: 'db down', times: 6 })]);
      injected(6);
      const w = worker();
      try {
        for (const id of ['r500-a', 'r500-b', 'r500-c'])
          await enqueue({ id, type: 'echo', payload: id });
        // All three run while their results cannot be delivered: polling is not stalled.
        await w.waitForOutput(/task r500-c succeeded/);
        for (const id of ['r500-a', 'r500-b', 'r500-c'])
          assert.equal((await resultOf(id)).results.length, 1);
      } finally {
        await w.stop();
      }
    });
  });

  describe('results the server will not take', () => {
    test('a refused result (404, 422) is moved to rejected/ with the answer, logged once, never deleted', async () => {
      await server.admin.faults([
        onOneResult(404, '{"error":"no such task"}'),
        onOneResult(422, '{"error":"bad output"}'),
      ]);
      injected(2);
      const w = worker();
      try {
        await enqueue({ id: 'refused-404', type: 'echo', payload: 8 });
        await w.waitForOutput(/refused the result of task refused-404 \(HTTP 404\)/);
        await enqueue({ id: 'refused-422', type: 'echo', payload: 9 });
        await w.waitForOutput(/refused the result of task refused-422 \(HTTP 422\)/);
        const rejected = readdirSync(join(w.dataDir, 'rejected')).map((name) =>
          JSON.parse(readFileSync(join(w.dataDir, 'rejected', name), 'utf8')),
        );
        assert.deepEqual(rejected.map((entry) => entry.answer.status).sort(), [404, 422]);
        assert.ok(rejected.every((entry) => entry.body.status === 'succeeded'));
        assert.equal(readdirSync(join(w.dataDir, 'outbox')).length, 0);
      } finally {
        await w.stop();
      }
      // The server never stored them: not counted as lost by the summary.
      tally.tasks.delete('refused-404');
      tally.tasks.delete('refused-422');
    });

    test('transient refusals (401, 403, 407, 408, 425, 429 + Retry-After) keep a result queued: it arrives once, same body', async () => {
      const transient = [401, 403, 407, 408, 425].map((status) =>
        onOneResult(status, `{"error":"transient ${status}"}`),
      );
      await server.admin.faults([...transient, onOneResult(429, '{"error":"slow down"}', 1)]);
      injected(6);
      // MAX_ERROR_SLEEP caps Retry-After: above 1 s here, so the server's 1 s is what is waited.
      const w = worker({ env: { HIVE_MAX_ERROR_SLEEP: '3' } });
      try {
        await enqueue({ id: 'transient-1', type: 'echo', payload: { keep: 'me' } });
        // The 429 is the last rule: once it is used up, the next POST must wait its Retry-After.
        await server.admin.waitFor(
          async () => ((await server.admin.faults([])).length === 0 ? true : undefined),
          20_000,
        );
        const refusedAt = performance.now();
        const task = await resultOf('transient-1');
        const waitedMs = performance.now() - refusedAt;
        assert.ok(
          waitedMs >= 900,
          `Retry-After: 1 honoured (the next try came ${Math.round(waitedMs)} ms later)`,
        );
        assert.equal(task.results.length, 1, 'stored once');
        // The body the server stored is the one the worker produced first (its once-per-task copy:
        // the outbox file itself, renamed into done/ once the answer is in).
        const doneDir = join(w.dataDir, 'done');
        await server.admin.waitFor(() => (readdirSync(doneDir).length > 0 ? true : undefined));
        const [done] = readdirSync(doneDir).map((name) =>
          JSON.parse(readFileSync(join(doneDir, name), 'utf8')),
        );
        assert.deepEqual(
          task.results[0]?.body,
          done.body,
          'same resultId, attempt, timestamps, output',
        );
        assert.deepEqual(readdirSync(join(w.dataDir, 'rejected')), [], 'nothing refused');
        assert.doesNotMatch(w.output(), /refused the result/);
        assert.equal(
          (w.output().match(/kept in the outbox to re-send/g) ?? []).length,
          1,
          'one line per streak',
        );
      } finally {
        await w.stop();
      }
    });

    test('a full outbox stops claiming, says so, and claiming resumes once results get through', async () => {
      await server.admin.faults([onResults({ status: 503, times: -1 })]);
      injected();
      // PREFETCH 1: what a claim made before the outbox was full may hold is one task (below).
      const w = worker({ env: { HIVE_OUTBOX_MAX: '2', HIVE_PREFETCH: '1' } });
      try {
        const ids = ['full-a', 'full-b', 'full-c', 'full-d'];
        for (const id of ids) await enqueue({ id, type: 'echo', payload: id });
        await w.waitForOutput(/the outbox holds 2 unsent results \(OUTBOX_MAX\): not claiming/);
        await new Promise((resolve) => setTimeout(resolve, 500));
        // 1.1: a claim made before the outbox was full may have held one more (PREFETCH 1).
        const beyond = protocol === '1' ? ids.slice(2) : ids.slice(3);
        for (const id of beyond)
          assert.equal(
            (await server.admin.task(id)).state,
            'queued',
            `no claim of ${id} while full`,
          );
        await server.admin.clearFaults();
        for (const id of ids) assert.equal((await resultOf(id)).results.length, 1);
      } finally {
        await w.stop();
      }
    });

    test('heartbeats lost to the network do not stop the task', async () => {
      // Within the lease: the next beat gets through before the server gives the task away.
      await server.admin.faults([{ route: 'heartbeat', dropConnection: true, times: 1 }]);
      injected();
      const w = worker();
      try {
        await enqueue({ id: 'beats-lost', type: 'sleep', payload: { ms: 2500 }, leaseSec: 3 });
        await w.waitForOutput(/heartbeat not delivered \(the task keeps running\)/);
        const result = (await resultOf('beats-lost')).results[0]?.body;
        assert.equal(result?.status, 'succeeded');
      } finally {
        await w.stop();
      }
    });
  });

  describe('the worker killed (SIGKILL) and restarted', () => {
    test('mid-task: the task process dies with it; the lease lapses and the task runs again', async () => {
      const w = worker();
      await enqueue({ id: 'kill-mid-task', type: 'sleep', payload: { ms: 4000 }, leaseSec: 1 });
      await w.waitForOutput(/claimed task kill-mid-task/);
      const children = await server.admin.waitFor(() => {
        const pids = childrenOf(w.child.pid ?? 0);
        return pids.length > 0 ? pids : undefined;
      });
      await w.stop('SIGKILL');
      injected();
      await server.admin.waitFor(() => children.every((pid) => !isRunning(pid)), 5000);
      const again = worker({ dataDir: w.dataDir });
      try {
        const task = await resultOf('kill-mid-task', 30_000);
        assert.equal(task.results.length, 1);
        assert.equal(task.results[0]?.body.attempt, 2, 'the result says it is the second delivery');
      } finally {
        await again.stop();
      }
    });

    test('after the task ran, before the server took the result: sent first thing after restart', async () => {
      await server.admin.faults([onResults({ status: 503, times: -1 })]);
      injected();
      const w = worker();
      await enqueue({ id: 'kill-before-post', type: 'echo', payload: 2 });
      await w.waitForOutput(/result not delivered/);
      await w.stop('SIGKILL');
      await server.admin.clearFaults();
      const again = worker({ dataDir: w.dataDir });
      try {
        await again.waitForOutput(/sending 1 queued result\(s\) before claiming/);
        assert.equal((await resultOf('kill-before-post')).results.length, 1);
      } finally {
        await again.stop();
      }
    });

    test('during the POST: the server may or may not have it; either way it is stored once', async () => {
      await server.admin.faults([onResults({ delayMs: 1500 })]);
      injected();
      const w = worker();
      await enqueue({ id: 'kill-during-post', type: 'echo', payload: 3 });
      await w.waitForOutput(/task kill-during-post succeeded/);
      await w.stop('SIGKILL');
      const again = worker({ dataDir: w.dataDir });
      try {
        assert.equal((await resultOf('kill-during-post')).results.length, 1);
        await server.admin.waitFor(
          () => readdirSync(join(again.dataDir, 'outbox')).length === 0,
          10_000,
        );
      } finally {
        await again.stop();
      }
    });

    test('after the POST, before the outbox file was removed: re-sent, 409, removed, stored once', async () => {
      const w = worker();
      await enqueue({ id: 'kill-after-post', type: 'echo', payload: 4 });
      await resultOf('kill-after-post');
      // Its done/ copy is written once the POST is out: wait for it before the kill.
      await server.admin.waitFor(() => readdirSync(join(w.dataDir, 'done')).length > 0, 10_000);
      await w.stop('SIGKILL');
      injected();
      // Put back the outbox file, as a kill between the answer and the unlink would have left it.
      const [stored] = readdirSync(join(w.dataDir, 'done'));
      assert.ok(stored !== undefined);
      const { results } = await server.admin.task('kill-after-post');
      copyFileSync(
        join(w.dataDir, 'done', stored),
        join(w.dataDir, 'outbox', `${results[0]?.resultId}.json`),
      );
      const again = worker({ dataDir: w.dataDir });
      try {
        await server.admin.waitFor(
          () => readdirSync(join(again.dataDir, 'outbox')).length === 0,
          10_000,
        );
        assert.equal((await server.admin.task('kill-after-post')).results.length, 1);
      } finally {
        await again.stop();
      }
    });
  });

  describe('task processes a dead worker left behind', () => {
    test('worker and guardian killed (SIGKILL): the next worker reaps the CPU-spinning task and its grandchild', async () => {
      const w = worker();
      // Not tallied: it never ends by itself; it is cancelled at the end, so nothing runs it again.
      await server.admin.enqueue({
        id: 'orphan-spins',
        type: 'spins',
        payload: { grandchild: true },
        leaseSec: 600,
      });
      let pids: number[] = [];
      const again: WorkerProcess[] = [];
      try {
        await w.waitForOutput(/spinning in \d+ \(grandchild \d+\)/);
        // The task says so 100 ms before its loop starts: until then its event loop is free, and a
        // worker killed in that window is noticed by the task itself (its 'disconnect' handler).
        await delay(500);
        const { tasks, grandchildren } = fixturePids(w.output());
        pids = [...tasks, ...grandchildren];
        const guardian = childrenOf(w.child.pid ?? 0).find((pid) => programOf(pid) === '/bin/sh');
        assert.ok(guardian !== undefined, 'the worker has a guardian');
        process.kill(guardian, 'SIGKILL');
        await w.stop('SIGKILL');
        injected(2);
        await delay(1500);
        assert.ok(pids.every(isRunning), 'with no guardian, the spinning task outlives its worker');
        again.push(worker({ dataDir: w.dataDir }));
        await again[0]?.waitForOutput(
          new RegExp(`stopped task process ${tasks[0]}, left running by a worker that died`),
        );
        assert.ok(await allGone(pids), `${pids.join(', ')} reaped`);
      } finally {
        for (const one of again) await one.stop();
        await w.stop('SIGKILL');
        killQuietly(pids);
        await server.admin.cancel('orphan-spins');
      }
    });
  });

  describe('disk and process faults', () => {
    test('a corrupt or truncated outbox file is moved aside with a log line; the worker carries on', async () => {
      const dataDir = tempDir();
      mkdirSync(join(dataDir, 'outbox'), { recursive: true });
      writeFileSync(join(dataDir, 'outbox', 'torn.json'), '{"taskId":"x","body":{"workerId":');
      writeFileSync(join(dataDir, 'outbox', 'garbage.json'), 'not json at all');
      injected(2);
      const w = worker({ dataDir });
      try {
        await w.waitForOutput(/unreadable result file .* moved aside/);
        await enqueue({ id: 'after-corrupt', type: 'echo', payload: 5 });
        await resultOf('after-corrupt');
        assert.equal(readdirSync(join(dataDir, 'corrupt')).length, 2);
      } finally {
        await w.stop();
      }
    });

    test('a stale lock from a crashed worker is taken over', async () => {
      const dataDir = tempDir();
      writeFileSync(
        join(dataDir, 'worker.lock'),
        JSON.stringify({ pid: 2 ** 22 + 12345, startedAt: 'earlier' }),
      );
      injected();
      const w = worker({ dataDir });
      try {
        await enqueue({ id: 'stale-lock', type: 'echo', payload: 6 });
        await resultOf('stale-lock');
      } finally {
        await w.stop();
      }
    });
  });

  describe('cancel, shutdown and re-delivery', () => {
    test('the server cancels a running task: it is stopped and reported cancelled/CANCELLED', async () => {
      const w = worker();
      try {
        await enqueue({
          id: 'cancel-me',
          type: 'hangs',
          payload: { ignoreAbort: true },
          leaseSec: 1,
        });
        await w.waitForOutput(/claimed task cancel-me/);
        await server.admin.cancel('cancel-me');
        injected();
        const task = await resultOf('cancel-me');
        assert.equal(task.results[0]?.body.status, 'cancelled');
        assert.equal(task.results[0]?.body.error?.code, 'CANCELLED');
      } finally {
        await w.stop();
      }
    });

    test('Ctrl+C mid-task: the task finishes within the grace period, is reported, exit 0', async () => {
      const w = worker({ env: { HIVE_SHUTDOWN_GRACE: '10' } });
      await enqueue({ id: 'ctrl-c-finish', type: 'sleep', payload: { ms: 800 } });
      await w.waitForOutput(/claimed task ctrl-c-finish/);
      const exit = await w.stop('SIGINT');
      assert.equal(exit.code, 0, w.output());
      assert.equal((await resultOf('ctrl-c-finish')).results[0]?.body.status, 'succeeded');
    });

    test("a terminal's Ctrl+C (SIGINT to the whole process group) does not hit the task: it finishes, exit 0", async () => {
      const w = startWorker({
        serverUrl: server.url,
        detached: true,
        env: { HIVE_SHUTDOWN_GRACE: '10' },
      });
      await enqueue({ id: 'ctrl-c-group', type: 'hangs', payload: { ms: 1500 } });
      await w.waitForOutput(/hanging/); // said from inside the task process: it runs
      process.kill(-(w.child.pid ?? 0), 'SIGINT'); // what a terminal sends to its foreground group
      injected();
      const exit = await w.exitedWithin(20_000);
      assert.equal(exit.code, 0, w.output());
      // Before task processes had groups of their own, the task died of the SIGINT: CRASHED.
      assert.equal((await resultOf('ctrl-c-group')).results[0]?.body.status, 'succeeded');
    });

    test('Ctrl+C past the grace period: the task (even one ignoring SIGTERM) is stopped, reported SHUTDOWN', async () => {
      const w = worker({ env: { HIVE_SHUTDOWN_GRACE: '0.3' } });
      await enqueue({ id: 'ctrl-c-stop', type: 'hangs', payload: { ignoreAbort: true } });
      await w.waitForOutput(/hanging/);
      const exit = await w.stop('SIGINT');
      assert.equal(exit.code, 0, w.output());
      const result = (await resultOf('ctrl-c-stop')).results[0]?.body;
      assert.equal(result?.status, 'cancelled');
      assert.equal(result?.error?.code, 'SHUTDOWN');
    });

    test('a second Ctrl+C exits at once (130) and leaves no task process behind', async () => {
      const w = worker({ env: { HIVE_SHUTDOWN_GRACE: '60' } });
      await enqueue({
        id: 'ctrl-c-twice',
        type: 'hangs',
        payload: { ignoreAbort: true },
        leaseSec: 1,
      });
      await w.waitForOutput(/hanging/);
      const children = childrenOf(w.child.pid ?? 0);
      w.child.kill('SIGINT');
      await w.waitForOutput(/finishing up/);
      const started = Date.now();
      const exit = await w.stop('SIGINT');
      assert.equal(exit.code, 130);
      assert.ok(Date.now() - started < 3000, 'exits at once');
      await server.admin.waitFor(() => children.every((pid) => !isRunning(pid)), 5000);
      // No result: the lease lapses and another worker runs it.
      const again = worker();
      try {
        await again.waitForOutput(/claimed task ctrl-c-twice \(hangs, attempt 2\)/, 20_000);
      } finally {
        await again.stop();
      }
      tally.tasks.add('ctrl-c-twice');
    });

    test('a finished task delivered again: its stored result is re-sent, not run again', async () => {
      const w = worker();
      try {
        await enqueue({ id: 'redelivered', type: 'echo', payload: 7 });
        const first = (await resultOf('redelivered')).results[0];
        await server.admin.redeliver('redelivered');
        injected();
        await w.waitForOutput(/task redelivered was already done here/);
        const task = await resultOf('redelivered');
        assert.equal(task.results.length, 1);
        assert.equal(task.resultId, first?.resultId, 'the same resultId closed the new round');
        assert.equal(w.output().match(/claimed task redelivered/g)?.length, 1, 'ran once');
        // force: true runs it again.
        tally.forced.add('redelivered');
        await server.admin.redeliver('redelivered', { force: true });
        await server.admin.waitFor(
          async () => (await server.admin.task('redelivered')).results.length === 2,
        );
        assert.equal(w.output().match(/claimed task redelivered/g)?.length, 2);
      } finally {
        await w.stop();
      }
    });
  });
}
