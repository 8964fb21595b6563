/**
 * `npm run test:windows`: the release worker.exe — src/main.ts built by the real build on Node 26,
 * the tasks users get and nothing added (the one difference: it pins the tests' release key) —
 * under Wine 10 (test/helpers/wine.ts), against the reference server on 127.0.0.1. The
 * failure-mode tasks and process trees are in tasks.e2e.ts, self-update in self-update.e2e.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  TEST_RELEASE_PUBLIC_KEY,
  type WineDir,
  WinePrefix,
  type WineRun,
  wineDataDir,
  wineTempDir,
} from '../helpers/wine.ts';

const RUN_KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run';

let server: TestServer;
let prefix: WinePrefix;
let exe: WineDir;

before(async () => {
  prefix = new WinePrefix();
  const built = await builtWorker({
    platform: 'win32-x64',
    release: true,
    releasePublicKey: TEST_RELEASE_PUBLIC_KEY,
  });
  exe = prefix.place(built, wineTempDir('hive-wine-exe-'), 'worker.exe');
  prefix.init();
  server = await startTestServer();
});
after(async () => {
  prefix?.kill();
  await server?.close();
});

const started: WineRun[] = [];
afterEach(() => killLeftRuns(started));

/** worker.exe with its own data folder (inside the chroot); `env` adds settings. */
function worker(args: string[], env: Record<string, string> = {}, stdio?: 'pipe') {
  const data = wineDataDir();
  const run = prefix.run(exe.inside, args, {
    env: { HIVE_SERVER_URL: server.url, HIVE_DATA_DIR: data.windows, ...env },
    ...(stdio === undefined ? {} : { stdio }),
  });
  started.push(run);
  const logLines = () =>
    readFileSync(join(data.host, 'logs', 'worker.log'), 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { msg: string });
  return { ...run, data, logLines };
}

/** server.admin.waitFor, failing with what the worker printed so far. */
function waitOrSay<T>(run: WineRun, probe: () => Promise<T>, timeoutMs = 120_000) {
  return server.admin
    .waitFor(probe, timeoutMs)
    .catch((error: Error) => assert.fail(`${error.message}\nworker output:\n${run.output()}`));
}

async function stop(run: WineRun): Promise<number | null> {
  run.child.kill('SIGINT');
  return run.exited;
}

describe('the release worker.exe (Node 26) under Wine 10', () => {
  test('--version and --help', async () => {
    const version = worker(['--version']);
    assert.equal(await version.exited, 0);
    assert.equal(version.output().trim(), '1.0.0');
    const help = worker(['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.output(), /HIVE_SERVER_URL/);
  });

  test('every result status through the reference server; Ctrl+C drains the running task, exit 0', async () => {
    const tasks = [
      { id: 'w-echo', type: 'echo', payload: { from: 'wine' } },
      { id: 'w-sleep', type: 'sleep', payload: { ms: 200 } },
      { id: 'w-scrape', type: 'prom_pars', payload: { url: `${server.url}metrics` } },
      { id: 'w-404', type: 'prom_pars', payload: { url: `${server.url}no-such-page` } },
      { id: 'w-slow', type: 'sleep', payload: { ms: 60_000 }, timeoutSec: 1 },
      { id: 'w-bad', type: 'sleep', payload: { ms: 'soon' } },
      { id: 'w-cancel', type: 'sleep', payload: { ms: 60_000 }, leaseSec: 1 },
    ];
    for (const task of tasks) await server.admin.enqueue(task);
    // Debug lines show the memory upkeep at work (a collection; no glibc to trim on Windows).
    const run = worker([], { HIVE_MEMORY_TRIM: '0.5', HIVE_LOG_LEVEL: 'debug' });
    await waitOrSay(run, async () => (await server.admin.task('w-cancel')).state === 'leased');
    await server.admin.cancel('w-cancel');
    const results = await waitForResults(server.admin, 'w-', tasks.length, 60_000).catch(
      (error: Error) => assert.fail(`${error.message}\n${run.output()}`),
    );
    assert.deepEqual(statusSummary(results), {
      'w-echo': 'succeeded/-',
      'w-sleep': 'succeeded/-',
      'w-scrape': 'succeeded/-',
      'w-404': 'failed/TASK_ERROR',
      'w-slow': 'timed_out/TIMEOUT',
      'w-bad': 'rejected/BAD_PAYLOAD',
      'w-cancel': 'cancelled/CANCELLED',
    });
    const echo = results.find((result) => result.taskId === 'w-echo');
    assert.deepEqual(echo?.body.output, { from: 'wine' });
    // Ctrl+C while a task runs: it finishes (well inside the grace period) and is reported.
    await server.admin.enqueue({ id: 'w-drain', type: 'sleep', payload: { ms: 3000 } });
    await waitOrSay(run, async () => (await server.admin.task('w-drain')).state === 'leased');
    assert.equal(await stop(run), 0, run.output());
    assert.equal((await server.admin.task('w-drain')).results[0]?.body.status, 'succeeded');
    assert.match(run.output(), /data\s+Z:\\tmp\\.*\(DATA_DIR\)/);
    assert.match(run.output(), /stopped \(0 result\(s\) left in the outbox\)/);
    assert.match(run.output(), /garbage collected/);
    assert.doesNotMatch(run.output(), /could not give memory back|ExperimentalWarning/);
  });

  test('--once: one task, then exit 0', async () => {
    await server.admin.enqueue({ id: 'w-once', type: 'echo', payload: 1 });
    const run = worker(['--once']);
    assert.equal(await run.exited, 0, run.output());
    assert.equal((await server.admin.task('w-once')).state, 'done');
  });

  test('a bad setting: exit 78 with the message, no wait for Enter (stdin is not a console)', async () => {
    const run = worker([], { HIVE_NO_TASK_SLEEP: 'abc' });
    assert.equal(await run.exited, 78);
    assert.match(run.output(), /Expected NO_TASK_SLEEP to be a number of seconds/);
    assert.doesNotMatch(run.output(), /Press Enter/);
  });

  test('--status --json beside a running worker', async () => {
    await server.admin.enqueue({ id: 'w-status', type: 'sleep', payload: { ms: 20_000 } });
    const run = worker([]);
    const env = { HIVE_SERVER_URL: server.url, HIVE_DATA_DIR: run.data.windows };
    // The status file names the task once its process has started (after the claim).
    const json = await waitOrSay(run, async () => {
      const status = prefix.run(exe.inside, ['--status', '--json'], { env });
      assert.equal(await status.exited, 0, status.output());
      const parsed = JSON.parse(status.output());
      return parsed.currentTasks.length > 0 ? parsed : undefined;
    });
    assert.equal(json.running, true);
    assert.equal(json.version, '1.0.0');
    assert.equal(json.dataDir, run.data.windows);
    assert.deepEqual(
      json.currentTasks.map((task: { id: string }) => task.id),
      ['w-status'],
    );
  });

  test('--install / --uninstall: the HKCU Run value, written and read back with reg query', async () => {
    const first = worker(['--install']);
    assert.equal(await first.exited, 0, first.output());
    assert.match(first.output(), /^installed: HKCU\\.*\\Run\\HiveWorker = ".*\\worker\.exe"/m);
    assert.equal(prefix.regQuery(RUN_KEY, 'HiveWorker'), `"${exe.windows}"`);
    const second = worker(['--install']);
    assert.equal(await second.exited, 0, second.output());
    assert.match(second.output(), /^already installed: .*HiveWorker = /m);
    const removed = worker(['--uninstall']);
    assert.equal(await removed.exited, 0, removed.output());
    assert.match(removed.output(), /^removed: HKCU\\.*\\Run\\HiveWorker/m);
    assert.equal(prefix.regQuery(RUN_KEY, 'HiveWorker'), undefined, 'the value is gone');
    const again = worker(['--uninstall']);
    assert.equal(await again.exited, 0, again.output());
    assert.match(again.output(), /^nothing to remove: /m);
  });

  test('stdout and stderr as pipes (EBADF under Wine): the worker runs, logs to its file, says so once', async () => {
    await server.admin.enqueue({ id: 'w-pipe', type: 'echo', payload: { piped: true } });
    const run = worker([], {}, 'pipe');
    const [result] = await waitForResults(server.admin, 'w-pipe', 1, 60_000);
    assert.equal(result?.body.status, 'succeeded');
    assert.equal(await stop(run), 0, JSON.stringify(run.logLines(), null, 1));
    const messages = run.logLines().map((line) => line.msg);
    const lost = messages.filter((msg) => /the console is unusable/.test(msg));
    assert.equal(lost.length, 1, messages.join('\n'));
    assert.match(lost[0] ?? '', /stdout: EBADF/);
    assert.ok(
      messages.some((msg) => /^hive-worker 1\.0\.0/.test(msg)),
      'the banner is in the file',
    );
    assert.ok(
      messages.some((msg) => /stopped \(0 result/.test(msg)),
      'the drain is in the file',
    );
  });
});
