/**
 * An update a person can follow (issue 24.4): a built 1.0.0 typed at a prompt in a tmux pane
 * updates to 1.1.0, which runs in the SAME pane — its banner there, its process in that foreground
 * job (the updater took the old worker's pid over with execve) — and a Ctrl+C sent to the pane
 * stops it, handing the prompt back. A 1.2.0 that exits at once is rolled back in the pane: the
 * old version runs there again. Real parts: the built executables, updater.sh, the reference
 * server, tmux.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isAlive, readLock } from '../../src/platform/lock.ts';
import { readText, releaseKit, versionOf } from '../helpers/releases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { FAST_SETTINGS, tempDir } from '../helpers/worker.ts';

const kit = releaseKit('hive-terminal-');
const sessions: string[] = [];
const dataDirs: string[] = [];
let server: TestServer | undefined;

before(async () => {
  await kit.build('1.0.0');
  await kit.build('1.1.0');
  await kit.build('1.2.0', 'test/fixtures/broken-entry.ts');
});

after(async () => {
  for (const session of sessions) spawnSync('tmux', ['kill-session', '-t', session]);
  for (const dataDir of dataDirs) {
    const holder = readLock(dataDir);
    if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
  }
  await server?.close();
});

/** `exe` typed at a bash prompt in a new tmux pane; the shell says how it ended. */
function runInPane(exe: string, dataDir: string, serverUrl: string) {
  const session = `hive-update-${process.pid}-${sessions.length}`;
  sessions.push(session);
  dataDirs.push(dataDir);
  const env = {
    ...FAST_SETTINGS,
    HIVE_SERVER_URL: serverUrl,
    HIVE_DATA_DIR: dataDir,
    HIVE_UPDATE_HEALTH_TIMEOUT: '20',
  };
  const settings = Object.entries(env).flatMap(([name, value]) => ['-e', `${name}=${value}`]);
  execFileSync('tmux', [
    ...['new-session', '-d', '-s', session, '-x', '200', '-y', '50', ...settings, '--'],
    ...['bash', '-c', '"$0"; echo "worker exited with $?"; sleep 600', exe],
  ]);
  const screen = () =>
    spawnSync('tmux', ['capture-pane', '-p', '-J', '-S', '-5000', '-t', session], {
      encoding: 'utf8',
    }).stdout ?? '';
  const panePid = Number(
    execFileSync('tmux', ['display-message', '-p', '-t', session, '#{pane_pid}'], {
      encoding: 'utf8',
    }).trim(),
  );
  return { session, screen, panePid };
}

async function until<T>(check: () => T | undefined | false, what: string, ms = 60_000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await delay(100)) {
    const found = check();
    if (found !== undefined && found !== false) return found;
  }
  assert.fail(`timed out waiting until ${what}`);
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

test('1.0.0 in a terminal updates to 1.1.0 in the same pane; Ctrl+C there stops 1.1.0', async () => {
  const releasesDir = tempDir('hive-rel-');
  kit.release('1.1.0', releasesDir);
  server = await startTestServer({ releasesDir });
  const exe = kit.install('terminal dir');
  const dataDir = join(tempDir('hive-terminal-data-'), 'data');
  const pane = runInPane(exe, dataDir, server.url);
  const oldPid = await until(() => readLock(dataDir)?.pid, '1.0.0 holds the data folder');
  assert.equal(parentOf(oldPid), pane.panePid, '1.0.0 is the prompt’s child');
  await until(() => /hive-worker 1\.1\.0/.test(pane.screen()), `1.1.0's banner:\n${pane.screen()}`);
  const screen = pane.screen();
  assert.ok(screen.indexOf('hive-worker 1.0.0') < screen.indexOf('hive-worker 1.1.0'), screen);
  const updaterLog = join(dataDir, 'logs', 'updater.log');
  await until(() => /1\.1\.0 is healthy; update done/.test(readText(updaterLog)), 'healthy');
  assert.equal(versionOf(exe), '1.1.0');
  // 1.1.0 runs in the foreground job the prompt started: under the old worker's pid, now updater.sh.
  const newPid = await until(() => {
    const holder = readLock(dataDir);
    return holder !== undefined && holder.pid !== oldPid ? holder.pid : undefined;
  }, '1.1.0 holds the data folder');
  assert.equal(parentOf(newPid), oldPid, 'the updater, in the old pid, is 1.1.0’s parent');
  assert.equal(parentOf(oldPid), pane.panePid, 'and still the prompt’s child');
  assert.doesNotMatch(pane.screen(), /worker exited with/, 'the prompt is still waiting');

  execFileSync('tmux', ['send-keys', '-t', pane.session, 'C-c']);
  const ended = await until(
    () => /worker exited with (\d+)/.exec(pane.screen())?.[1],
    `Ctrl+C stops 1.1.0:\n${pane.screen()}`,
    20_000,
  );
  assert.equal(ended, '0', pane.screen());
  assert.match(pane.screen(), /SIGINT: finishing up/);
  assert.ok(!isAlive(newPid), '1.1.0 is gone');
  assert.ok(!isAlive(oldPid), 'and so is the updater');
});

test('1.2.0 exits at once: rolled back, and 1.0.0 runs again in the same pane', async () => {
  const releasesDir = tempDir('hive-rel-');
  kit.release('1.2.0', releasesDir);
  await server?.close();
  server = await startTestServer({ releasesDir });
  const exe = kit.install('terminal rollback dir');
  const dataDir = join(tempDir('hive-terminal-data-'), 'data');
  const pane = runInPane(exe, dataDir, server.url);
  const oldPid = await until(() => readLock(dataDir)?.pid, '1.0.0 holds the data folder');
  const updaterLog = join(dataDir, 'logs', 'updater.log');
  await until(() => /rolled back to the previous version/.test(readText(updaterLog)), 'rollback');
  assert.match(readText(updaterLog), /1\.2\.0 exited before reporting healthy/);
  assert.equal(versionOf(exe), '1.0.0');
  // The old version took the updater's process over: the same pid, the same pane.
  await until(
    () => pane.screen().split('hive-worker 1.0.0').length > 2,
    `1.0.0's banner again:\n${pane.screen()}`,
  );
  await until(() => readLock(dataDir)?.pid === oldPid, '1.0.0 holds the folder in the same pid');
  assert.equal(parentOf(oldPid), pane.panePid);
  execFileSync('tmux', ['send-keys', '-t', pane.session, 'C-c']);
  const ended = await until(
    () => /worker exited with (\d+)/.exec(pane.screen())?.[1],
    `Ctrl+C stops 1.0.0:\n${pane.screen()}`,
    20_000,
  );
  assert.equal(ended, '0', pane.screen());
});
