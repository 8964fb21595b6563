/**
 * Task processes of worker.exe under Wine 10, with the failure-mode tasks: the same build (Node 26,
 * the real build) from test/fixtures/entry.ts, which adds them to the release registry. Each task
 * runs in its own process, worker.exe starting itself with --task-child over IPC.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { builtWorker } from '../helpers/built-worker.ts';
import {
  startTestServer,
  statusSummary,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import { type WineDir, WinePrefix, type WineRun, wineTempDir } from '../helpers/wine.ts';

let server: TestServer;
let prefix: WinePrefix;
let exe: WineDir;
const started: WineRun[] = [];

before(async () => {
  prefix = new WinePrefix();
  const built = await builtWorker({ platform: 'win32-x64' });
  exe = prefix.place(built, wineTempDir('hive-wine-exe-'), 'worker.exe');
  prefix.init();
  server = await startTestServer();
});
afterEach(async () => {
  for (const run of started.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  }
});
after(async () => {
  prefix?.kill();
  await server?.close();
});

function worker(env: Record<string, string> = {}): WineRun {
  const data = wineTempDir('hive-wine-data-');
  const run = prefix.run(exe.inside, [], {
    env: { HIVE_SERVER_URL: server.url, HIVE_DATA_DIR: data.windows, ...env },
  });
  started.push(run);
  return run;
}

describe('worker.exe task processes under Wine 10 (fixture tasks)', () => {
  test('a throw, process.exit(3), a heap leak, a hang past its timeout, ctx.log lines', async () => {
    const tasks = [
      { id: 't-logs', type: 'logs', payload: { lines: 3 } },
      { id: 't-throws', type: 'throws', payload: { message: 'no such file' } },
      { id: 't-exits', type: 'exits', payload: { code: 3 } },
      { id: 't-leaks', type: 'leaks', payload: {} },
      { id: 't-hangs', type: 'hangs', payload: {}, timeoutSec: 1 },
    ];
    for (const task of tasks) await server.admin.enqueue(task);
    const run = worker();
    const results = await waitForResults(server.admin, 't-', tasks.length, 120_000).catch(
      (error: Error) => assert.fail(`${error.message}\n${run.output()}`),
    );
    assert.deepEqual(statusSummary(results), {
      't-logs': 'succeeded/-',
      't-throws': 'failed/TASK_ERROR',
      't-exits': 'failed/CRASHED',
      't-leaks': 'failed/CRASHED',
      't-hangs': 'timed_out/TIMEOUT',
    });
    const byTask = new Map(results.map((result) => [result.taskId, result.body]));
    const logs = byTask.get('t-logs')?.logs?.map((line) => line.msg) ?? [];
    assert.ok(logs.includes('line 2'), `the task's ctx.log lines arrive over IPC: ${logs}`);
    assert.equal(byTask.get('t-throws')?.error?.message, 'no such file');
    // The heap limit (TASK_MAX_HEAP 64 MB) reached the task process: it died, not at 4 GB.
    assert.match(byTask.get('t-leaks')?.error?.message ?? '', /ran out of memory|code 134/);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0, run.output());
  });
});
