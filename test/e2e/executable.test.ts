/**
 * The single executable (Linux, built here from test/fixtures/entry.ts by the real build): the
 * same end-to-end scenarios as from source, then what only an executable must do — run alone
 * from an empty folder, ignore NODE_OPTIONS, find its data folder, keep a failing window open.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WORKER_VERSION } from '../../src/config.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { endToEndScenarios } from '../helpers/end-to-end.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

endToEndScenarios({
  name: 'single executable',
  program: async () => ({ file: await builtWorker(), args: [] }),
  version: WORKER_VERSION,
});

describe('the executable on its own', () => {
  let server: TestServer;
  let exe: string;
  before(async () => {
    exe = await builtWorker();
    server = await startTestServer();
  });
  after(() => server?.close());

  /** A copy of the executable alone in a fresh folder: no node_modules, no sources beside it. */
  function lonelyCopy(): { dir: string; file: string } {
    const dir = tempDir('hive-exe-');
    const file = join(dir, 'worker');
    copyFileSync(exe, file);
    execFileSync('chmod', ['755', file]);
    return { dir, file };
  }

  test('--version prints the version and --help every setting with its variable', () => {
    assert.equal(execFileSync(exe, ['--version'], { encoding: 'utf8' }), `${WORKER_VERSION}\n`);
    const help = execFileSync(exe, ['--help'], { encoding: 'utf8' });
    assert.match(help, /^hive-worker \d+\.\d+\.\d+/);
    for (const name of ['SERVER_URL', 'TASK_MAX_HEAP', 'LOG_MAX_SIZE', 'LOG_FILES']) {
      assert.match(help, new RegExp(`HIVE_${name}\\b`));
    }
  });

  test('--version loads nothing: it answers beside a broken worker.config.json, which a run refuses', () => {
    const { dir, file } = lonelyCopy();
    writeFileSync(join(dir, 'worker.config.json'), '{ "NO_TASK_SLEEP": "soon" ');
    assert.equal(execFileSync(file, ['--version'], { encoding: 'utf8' }), `${WORKER_VERSION}\n`);
    const run = spawnSync(file, ['--once', '--no-pause'], { encoding: 'utf8' });
    assert.equal(run.status, 78, run.stderr);
    assert.match(run.stderr, /worker\.config\.json/);
  });

  test('runs from an empty folder, with no node on PATH: data/ beside it, a task done', async () => {
    const { dir, file } = lonelyCopy();
    const emptyBin = tempDir('hive-nopath-');
    await server.admin.enqueue({ id: 'alone-1', type: 'echo', payload: { alone: true } });
    const w = startWorker({
      serverUrl: server.url,
      command: { file, args: ['--once'] },
      env: { PATH: emptyBin, HIVE_DATA_DIR: '', NODE_PATH: '' },
    });
    const exit = await w.exited;
    assert.equal(exit.code, 0, w.output());
    assert.deepEqual((await server.admin.task('alone-1')).results[0]?.body.output, { alone: true });
    const banner = w.output();
    assert.match(banner, new RegExp(`data\\s+${join(dir, 'data')} \\(beside the executable\\)`));
    assert.ok(existsSync(join(dir, 'data', 'worker-id')));
    assert.ok(existsSync(join(dir, 'data', 'logs', 'worker.log')));
  });

  test('data/ beside it unusable: the per-user folder is used and the banner says why', async () => {
    const { dir, file } = lonelyCopy();
    writeFileSync(join(dir, 'data'), 'a file where the folder would go');
    const state = tempDir('hive-state-');
    await server.admin.enqueue({ id: 'fallback-1', type: 'echo', payload: 1 });
    const w = startWorker({
      serverUrl: server.url,
      command: { file, args: ['--once'] },
      env: { HIVE_DATA_DIR: '', XDG_STATE_HOME: state },
    });
    assert.equal((await w.exited).code, 0, w.output());
    const perUser = join(state, 'hive-worker');
    assert.match(
      w.output(),
      new RegExp(`data\\s+${perUser} \\(${join(dir, 'data')} is not writable\\)`),
    );
    assert.ok(existsSync(join(perUser, 'worker-id')));
  });

  test('worker.config.json beside the executable is read; --config FILE names another', async () => {
    const { dir, file } = lonelyCopy();
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify({ SERVER_URL: server.url }));
    await server.admin.enqueue({ id: 'config-1', type: 'echo', payload: 1 });
    const beside = startWorker({
      serverUrl: '',
      command: { file, args: ['--once'] },
      env: { HIVE_SERVER_URL: '' },
    });
    assert.equal((await beside.exited).code, 0, beside.output());
    assert.equal((await server.admin.task('config-1')).state, 'done');
    const other = join(tempDir('hive-config-'), 'elsewhere.json');
    writeFileSync(other, JSON.stringify({ SERVER_URL: server.url, NO_TASK_SLEEP: 'soon' }));
    const named = startWorker({
      serverUrl: '',
      command: { file, args: ['--config', other] },
      env: { HIVE_SERVER_URL: '', HIVE_NO_TASK_SLEEP: '' },
    });
    assert.equal((await named.exited).code, 78);
    assert.match(
      named.output(),
      /Expected NO_TASK_SLEEP to be .*, got "soon" \(from worker\.config\.json\)/,
    );
  });

  test('NODE_OPTIONS=--require … has no effect, on the worker nor on its task processes', async () => {
    const dir = tempDir('hive-evil-');
    const marker = join(dir, 'evil-ran');
    const evil = join(dir, 'evil.cjs');
    writeFileSync(evil, `require('node:fs').appendFileSync(${JSON.stringify(marker)}, 'x');`);
    const env = { ...process.env, NODE_OPTIONS: `--require ${evil}` };
    // The same NODE_OPTIONS does run evil.js in a plain node: the check is real.
    spawnSync(process.execPath, ['-e', '0'], { env });
    assert.ok(existsSync(marker), 'control: node honours NODE_OPTIONS');
    writeFileSync(marker, '');
    assert.equal(
      execFileSync(exe, ['--version'], { env, encoding: 'utf8' }),
      `${WORKER_VERSION}\n`,
    );
    await server.admin.enqueue({ id: 'evil-1', type: 'echo', payload: 'ok' });
    const w = startWorker({
      serverUrl: server.url,
      command: { file: exe, args: ['--once'] },
      env: { NODE_OPTIONS: `--require ${evil}` },
    });
    assert.equal((await w.exited).code, 0, w.output());
    assert.equal((await server.admin.task('evil-1')).results[0]?.body.status, 'succeeded');
    assert.equal(readFileSync(marker, 'utf8'), '', 'evil.js never ran');
  });

  test('after work, freed memory is given back to the system (node:ffi inside the executable), without a warning', async () => {
    await server.admin.enqueue({ id: 'trim-1', type: 'echo', payload: 'x'.repeat(2 * 2 ** 20) });
    const w = startWorker({
      serverUrl: server.url,
      env: { HIVE_MEMORY_TRIM: '0.3', HIVE_LOG_LEVEL: 'debug' },
      command: { file: exe, args: [] },
    });
    try {
      await w.waitForOutput(/freed memory given back to the system/, 30_000);
    } finally {
      await w.stop();
    }
    assert.equal((await server.admin.task('trim-1')).state, 'done');
    const line = w.logLines().find((one) => one.msg === 'freed memory given back to the system');
    assert.equal(line?.trimmed, true, 'malloc_trim ran');
    assert.doesNotMatch(w.output(), /ExperimentalWarning|FFI is an experimental/);
  });

  test('the log file rotates by size and keeps LOG_FILES files', async () => {
    for (let i = 0; i < 6; i++) {
      await server.admin.enqueue({ id: `rot-${i}`, type: 'logs', payload: { lines: 40 } });
    }
    const w = startWorker({
      serverUrl: server.url,
      env: { HIVE_LOG_MAX_SIZE: '0.01', HIVE_LOG_FILES: '3', HIVE_LOG_LEVEL: 'debug' },
      command: { file: exe, args: [] },
    });
    try {
      await server.admin.waitFor(async () => (await server.admin.task('rot-5')).state === 'done');
    } finally {
      await w.stop();
    }
    const logs = readdirSync(join(w.dataDir, 'logs')).sort();
    assert.deepEqual(logs, ['worker.log', 'worker.log.1', 'worker.log.2']);
    for (const name of logs) {
      const text = readFileSync(join(w.dataDir, 'logs', name), 'utf8');
      assert.ok(Buffer.byteLength(text) < 0.01 * 1024 * 1024 + 4096, `${name} stays small`);
      for (const line of text.trim().split('\n')) JSON.parse(line);
    }
  });
});

describe('a fatal error in a window opened by double-click', { skip: !hasTmux() }, () => {
  let exe: string;
  before(async () => {
    exe = await builtWorker();
  });

  /** tmux starts the worker directly (no shell) on a real terminal, as a file manager would. */
  function runInTerminal(args: string[]): {
    session: string;
    screen: () => string;
    gone: () => boolean;
  } {
    const session = `hive-pause-${process.pid}-${Date.now()}`;
    const dataDir = tempDir('hive-pause-');
    execFileSync('tmux', [
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '160',
      '-y',
      '40',
      '-e',
      'HIVE_NO_TASK_SLEEP=abc',
      '-e',
      `HIVE_DATA_DIR=${dataDir}`,
      '--',
      exe,
      ...args,
    ]);
    const screen = () =>
      spawnSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' }).stdout ?? '';
    const gone = () => spawnSync('tmux', ['has-session', '-t', session]).status !== 0;
    after(() => spawnSync('tmux', ['kill-session', '-t', session]));
    return { session, screen, gone };
  }

  async function until(check: () => boolean, what: string): Promise<void> {
    for (let waited = 0; waited < 10_000; waited += 100) {
      if (check()) return;
      await delay(100);
    }
    assert.fail(`timed out waiting until ${what}`);
  }

  test('waits for Enter before the window closes, then exits', async () => {
    const terminal = runInTerminal([]);
    await until(
      () => /Press Enter to close this window/.test(terminal.screen()),
      'it asks for Enter',
    );
    assert.match(terminal.screen(), /Expected NO_TASK_SLEEP to be a number of seconds/);
    await delay(500);
    assert.equal(terminal.gone(), false, 'still open, waiting');
    execFileSync('tmux', ['send-keys', '-t', terminal.session, 'Enter']);
    await until(terminal.gone, 'the window closes');
  });

  test('--no-pause exits at once', async () => {
    const terminal = runInTerminal(['--no-pause']);
    await until(terminal.gone, 'the window closes by itself');
  });
});

function hasTmux(): boolean {
  return spawnSync('tmux', ['-V']).status === 0;
}
