/**
 * `worker --status [--json]` against a real worker process and the reference server: it reads the
 * data folder from another process while the worker runs, and never takes or breaks the lock.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { WorkerStatus } from '../../src/cli/status-command.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, startWorker, tempDir } from '../helpers/worker.ts';

const run = promisify(execFile);

async function status(serverUrl: string, dataDir: string, args: string[] = []) {
  const { stdout } = await run(process.execPath, [FIXTURE_ENTRY, '--status', ...args], {
    env: { ...process.env, ...FAST_SETTINGS, HIVE_SERVER_URL: serverUrl, HIVE_DATA_DIR: dataDir },
  });
  return stdout;
}

async function statusJson(serverUrl: string, dataDir: string): Promise<WorkerStatus> {
  return JSON.parse(await status(serverUrl, dataDir, ['--json'])) as WorkerStatus;
}

describe('worker --status', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  test('shows the running worker, its current task, outbox and last result, without disturbing it', async () => {
    await server.admin.enqueue({ id: 'st-echo', type: 'echo', payload: 'hi' });
    const w = startWorker({ serverUrl: server.url });
    try {
      await w.waitForOutput(/task st-echo succeeded/);
      await server.admin.waitFor(
        async () => ((await server.admin.task('st-echo')).state === 'done' ? true : undefined),
        10_000,
      );
      // The next result cannot be delivered yet: it waits in the outbox.
      await server.admin.faults([
        { route: 'result', status: 503, times: -1 },
        { route: 'results', status: 503, times: -1 },
      ]);
      // Long enough for two --status runs from source on a loaded machine (≈ 2 s each).
      await server.admin.enqueue({ id: 'st-sleep', type: 'sleep', payload: { ms: 8000 } });
      await w.waitForOutput(/claimed task st-sleep/);

      const text = await status(server.url, w.dataDir);
      assert.match(text, /^hive-worker \S+ \(this build\)$/m);
      assert.match(text, new RegExp(`running +yes, pid ${w.child.pid} `));
      assert.match(text, /current task st-sleep \(sleep, attempt 1\) since \d{4}-/);
      assert.match(text, /last result +st-echo succeeded at \d{4}-/);
      assert.match(text, new RegExp(`server +${server.url.replaceAll('/', '\\/')}`));
      assert.match(text, /outbox +0 result\(s\)/);

      const json = await statusJson(server.url, w.dataDir);
      assert.equal(json.running, true);
      assert.equal(json.pid, w.child.pid);
      assert.deepEqual(
        json.currentTasks.map((task) => task.id),
        ['st-sleep'],
      );
      assert.equal(json.lastResult?.taskId, 'st-echo');
      assert.match(json.workerId ?? '', /-[0-9a-f]{8}$/);
      assert.deepEqual(json.update.staged, []);

      // The worker kept working: the sleep task finished and its (undeliverable) result is queued.
      await w.waitForOutput(/task st-sleep succeeded/, 30_000);
      const later = await statusJson(server.url, w.dataDir);
      assert.deepEqual(later.currentTasks, []);
      assert.equal(later.lastResult?.taskId, 'st-sleep');
      assert.equal(later.outboxSize, 1);
      const lock = JSON.parse(readFileSync(join(w.dataDir, 'worker.lock'), 'utf8')) as {
        pid: number;
      };
      assert.equal(lock.pid, w.child.pid, 'the lock still belongs to the running worker');
      assert.equal(w.child.exitCode, null, 'the worker is still running');
    } finally {
      await server.admin.clearFaults();
      const exit = await w.stop();
      assert.equal(exit.code, 0, w.output());
    }
    // Stopped: not running, no current task; the last result stays.
    const stopped = await statusJson(server.url, w.dataDir);
    assert.equal(stopped.running, false);
    assert.equal(stopped.pid, null);
    assert.deepEqual(stopped.currentTasks, []);
    assert.equal(stopped.lastResult?.taskId, 'st-sleep');
    assert.match(await status(server.url, w.dataDir), /running +no: not running/);
  });

  test('with no worker ever run: not running, nothing yet, exit 0', async () => {
    const dataDir = tempDir('hive-status-');
    const text = await status(server.url, dataDir);
    assert.match(text, /running +no: not running/);
    assert.match(text, /worker id +none yet/);
    assert.match(text, /last result +none/);
    const json = await statusJson(server.url, dataDir);
    assert.deepEqual(Object.keys(json), [
      'version',
      'workerId',
      'serverUrl',
      'dataDir',
      'running',
      'pid',
      'runningSince',
      'currentTasks',
      'outboxSize',
      'rejectedSize',
      'tokenInClearText',
      'lastResult',
      'lastError',
      'update',
      'configProblems',
    ]);
    assert.equal(json.running, false);
    assert.equal(json.workerId, null);
    assert.equal(json.outboxSize, 0);
    assert.equal(json.rejectedSize, 0);
    assert.equal(json.tokenInClearText, false);
  });

  test('the last claim error is shown with its time', async () => {
    const w = startWorker({ serverUrl: 'http://127.0.0.1:9/api/' });
    try {
      await w.waitForOutput(/claim failed/);
      const json = await statusJson('http://127.0.0.1:9/api/', w.dataDir);
      assert.match(json.lastError?.message ?? '', /^claim failed: .*ECONNREFUSED/);
      assert.ok(Date.parse(json.lastError?.at ?? '') > 0);
    } finally {
      await w.stop();
    }
  });
});
