/**
 * `npm run test:windows`: worker.exe under Wine against the reference server. Debian's Wine 8
 * cannot start Node 24/26 for Windows, so this builds the same sources into a Node 22 worker.exe
 * (the `--node` option of the build; blob made by the Linux Node 22, injected with postject) and
 * runs the Windows code paths for real: the exe starting itself as task processes over IPC,
 * data folder paths, Ctrl+C handling, exit codes. See docs/windows.md for what this found.
 * Needs `apt-get install -y wine64`; not part of `npm test`, run by .ci/run after it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import {
  startTestServer,
  statusSummary,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import { FAST_SETTINGS, tempDir } from '../helpers/worker.ts';

/** Node for Windows that Wine 8 starts (undici 8 needs ≥ 22.19); pinned in build.config.json. */
const WINE_NODE = '22.23.3';
const PREFIX = join(ROOT, '.cache', 'wine-prefix');
const WINE_ENV = { WINEDEBUG: '-all', WINEPREFIX: PREFIX };
const RUN_KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run';

let server: TestServer;
let exe: string;

before(async () => {
  if (spawnSync('wine', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('Wine is not installed: apt-get install -y wine64');
  }
  exe = await builtWorker({ platform: 'win32-x64', nodeVersion: WINE_NODE });
  if (!existsSync(join(PREFIX, 'system.reg'))) {
    // Node 22 refuses anything older than Windows 8.1: a fresh prefix must claim Windows 10.
    const setup = spawnSync('wine', ['winecfg', '/v', 'win10'], {
      env: { ...process.env, ...WINE_ENV },
      stdio: 'ignore',
    });
    assert.equal(setup.status, 0, 'wine winecfg /v win10');
  }
  server = await startTestServer();
});
after(() => server?.close());

interface WineRun {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  dataDir: string;
}

/** worker.exe under Wine; stdout/stderr go to a file (Wine cannot write Node's stdout to a pipe). */
function wine(args: string[], env: Record<string, string> = {}): WineRun {
  const dir = tempDir('hive-wine-');
  const outFile = join(dir, 'output.txt');
  const fd = openSync(outFile, 'w');
  const dataDir = join(dir, 'data');
  const child = spawn('wine', [exe, ...args], {
    stdio: ['ignore', fd, fd],
    env: {
      ...process.env,
      ...FAST_SETTINGS,
      ...WINE_ENV,
      HIVE_SERVER_URL: server.url,
      HIVE_DATA_DIR: dataDir,
      // undici sets TCP keep-alive before the connection completes, which Wine 8 refuses.
      HIVE_TCP_KEEPALIVE: 'false',
      ...env,
    },
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, dataDir, exited, output: () => readFileSync(outFile, 'utf8') };
}

describe('worker.exe (Node 22) under Wine', () => {
  test('--version and --help', async () => {
    const version = wine(['--version']);
    assert.equal(await version.exited, 0);
    assert.match(version.output(), /^\d+\.\d+\.\d+\r?\n$/);
    const help = wine(['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.output(), /HIVE_TCP_KEEPALIVE/);
  });

  test('tasks of every status go through; Ctrl+C (SIGINT) drains and exits 0', async () => {
    const tasks = [
      { id: 'wine-echo', type: 'echo', payload: { from: 'wine' } },
      { id: 'wine-sleep', type: 'sleep', payload: { ms: 200 } },
      { id: 'wine-logs', type: 'logs', payload: { lines: 3 } },
      { id: 'wine-bad', type: 'sleep', payload: { ms: 'soon' } },
      { id: 'wine-throws', type: 'throws', payload: { message: 'no such file' } },
      { id: 'wine-exits', type: 'exits', payload: { code: 3 } },
      { id: 'wine-leaks', type: 'leaks', payload: {} },
      { id: 'wine-hangs', type: 'hangs', payload: {}, timeoutSec: 1 },
    ];
    for (const task of tasks) await server.admin.enqueue(task);
    const run = wine([]);
    try {
      const results = await waitForResults(server.admin, 'wine-', tasks.length, 120_000);
      const byTask = new Map(results.map((result) => [result.taskId, result.body]));
      assert.deepEqual(statusSummary(results), {
        'wine-echo': 'succeeded/-',
        'wine-sleep': 'succeeded/-',
        'wine-logs': 'succeeded/-',
        'wine-bad': 'rejected/BAD_PAYLOAD',
        'wine-throws': 'failed/TASK_ERROR',
        'wine-exits': 'failed/CRASHED',
        'wine-leaks': 'failed/CRASHED',
        'wine-hangs': 'timed_out/TIMEOUT',
      });
      assert.deepEqual(byTask.get('wine-echo')?.output, { from: 'wine' });
      const logs = byTask.get('wine-logs')?.logs?.map((line) => line.msg) ?? [];
      assert.ok(logs.includes('line 2'), `the task's ctx.log lines arrive over IPC: ${logs}`);
      // The heap limit reached the task process (it died within seconds, not at 4 GB). Under
      // Wine its stderr pipe is lost, so the "heap out of memory" text may not arrive.
      assert.match(byTask.get('wine-leaks')?.error?.message ?? '', /ran out of memory|code 134/);
    } finally {
      run.child.kill('SIGINT');
      assert.equal(await run.exited, 0, run.output());
    }
    assert.match(run.output(), /data\s+Z:\\.*\\data \(DATA_DIR\)/);
    assert.match(run.output(), /stopped \(0 result\(s\) left in the outbox\)/);
  });

  test('--once: one task, then a clean exit', async () => {
    await server.admin.enqueue({ id: 'wine-once', type: 'echo', payload: 1 });
    const run = wine(['--once']);
    assert.equal(await run.exited, 0, run.output());
    assert.equal((await server.admin.task('wine-once')).state, 'done');
  });

  test('a bad setting: exit 78 with the message, no wait for Enter (stdin is not a console)', async () => {
    const run = wine([], { HIVE_NO_TASK_SLEEP: 'abc' });
    assert.equal(await run.exited, 78);
    assert.match(run.output(), /Expected NO_TASK_SLEEP to be a number of seconds/);
    assert.doesNotMatch(run.output(), /Press Enter/);
  });

  test('--install / --uninstall: the HKCU Run value, written and read back with reg query', async () => {
    const query = () =>
      spawnSync('wine', ['reg', 'query', RUN_KEY, '/v', 'HiveWorker'], {
        encoding: 'utf8',
        env: { ...process.env, ...WINE_ENV },
      });
    const first = wine(['--install']);
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /^installed: HKCU\\.*\\Run\\HiveWorker = ".*\\worker\.exe"/m);
    const written = query();
    assert.equal(written.status, 0, written.stderr);
    const value = written.stdout.match(/HiveWorker\s+REG_SZ\s+(.*\S)/)?.[1] ?? '';
    assert.match(value, /^"[A-Z]:\\.*\\worker\.exe"$/, written.stdout);
    const second = wine(['--install']);
    assert.equal(await second.exited, 0, second.output());
    assert.match(second.output(), /^already installed: .*HiveWorker = /m);
    const removed = wine(['--uninstall']);
    assert.equal(await removed.exited, 0, removed.output());
    assert.match(removed.output(), /^removed: HKCU\\.*\\Run\\HiveWorker/m);
    assert.equal(query().status, 1, 'the value is gone');
    const again = wine(['--uninstall']);
    assert.equal(await again.exited, 0, again.output());
    assert.match(again.output(), /^nothing to remove: /m);
  });

  test('Wine only: with TCP keep-alive on (the default), undici cannot connect', async () => {
    const run = wine(['--once'], { HIVE_TCP_KEEPALIVE: 'true' });
    try {
      await server.admin.waitFor(() => /claim failed/.test(run.output()), 30_000);
      assert.match(run.output(), /connect UNKNOWN|UND_ERR|ECONN|socket/i);
    } finally {
      run.child.kill('SIGINT');
      run.child.kill('SIGINT');
      await run.exited;
    }
  });
});
