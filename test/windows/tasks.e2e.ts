/**
 * Task processes of worker.exe under Wine 10, with the failure-mode tasks: the same build (Node 26,
 * the real build) from test/fixtures/entry.ts, which adds them to the release registry. Each task
 * runs in its own process, worker.exe starting itself with --task-child over IPC.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, afterEach, before, describe, test } from 'node:test';
import { builtWorker } from '../helpers/built-worker.ts';
import {
  startTestServer,
  statusSummary,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import {
  killLeftRuns,
  type WineDir,
  WinePrefix,
  type WineRun,
  wineDataDir,
  wineTempDir,
} from '../helpers/wine.ts';

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
afterEach(() => killLeftRuns(started));
after(async () => {
  prefix?.kill();
  await server?.close();
});

function worker(env: Record<string, string> = {}): WineRun {
  const data = wineDataDir();
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

  /**
   * The ping.exe processes (and their cmd.exe) Wine runs for `-n <count>`, seen from this side:
   * every Windows program under Wine is a Linux process whose command line is its own.
   */
  function pings(count: number): string[] {
    const ps = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
    return ps.stdout
      .split('\n')
      .filter((line) => new RegExp(`ping(\\.exe)?"? -n ${count} 127\\.0\\.0\\.1`, 'i').test(line));
  }

  /** A task that starts `cmd /c ping -n <count> 127.0.0.1` and hangs, ignoring aborts. */
  function treeTask(id: string, count: number, extra: Record<string, unknown> = {}) {
    const command = ['cmd', '/c', `ping -n ${count} 127.0.0.1`];
    return { id, type: 'spawns', payload: { after: 'hang', command }, ...extra };
  }

  async function waitForTree(run: WineRun, count: number): Promise<void> {
    await server.admin
      .waitFor(() => pings(count).length > 0, 60_000)
      .catch((error: Error) => assert.fail(`${error.message}: no ping started\n${run.output()}`));
  }

  async function assertTreeGone(count: number): Promise<void> {
    await server.admin
      .waitFor(() => pings(count).length === 0, 30_000)
      .catch(() => assert.fail(`still running after the task ended:\n${pings(count).join('\n')}`));
  }

  test('a task that started cmd /c ping -n 600 is ended with its whole tree on timeout, cancel and shutdown', async () => {
    const run = worker({ HIVE_SHUTDOWN_GRACE: '1' });
    await server.admin.enqueue(treeTask('tree-timeout', 601, { timeoutSec: 3 }));
    await waitForTree(run, 601);
    const [timedOut] = await waitForResults(server.admin, 'tree-timeout', 1, 60_000);
    assert.equal(timedOut?.body.status, 'timed_out');
    await assertTreeGone(601);

    await server.admin.enqueue(treeTask('tree-cancel', 602, { leaseSec: 1 }));
    await waitForTree(run, 602);
    await server.admin.cancel('tree-cancel');
    const [cancelled] = await waitForResults(server.admin, 'tree-cancel', 1, 60_000);
    assert.equal(cancelled?.body.error?.code, 'CANCELLED');
    await assertTreeGone(602);

    await server.admin.enqueue(treeTask('tree-shutdown', 603));
    await waitForTree(run, 603);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0, run.output());
    const [shutdown] = await waitForResults(server.admin, 'tree-shutdown', 1, 60_000);
    assert.equal(shutdown?.body.error?.code, 'SHUTDOWN');
    await assertTreeGone(603);
  });
});
