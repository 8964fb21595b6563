/**
 * updater.sh never runs text read from a file, and signals a pid from worker.lock only when it is
 * the worker the lock names (boot id, start time, running the installed executable): planted
 * locks naming a bystander (`sleep`), a reused-looking pid, or shell text, and non-digit inputs,
 * leave every process alive and nothing run (issue 27.3). The rollback path that reads the lock
 * is reached for real: the "new version" exits at once.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import { tempDir } from '../helpers/worker.ts';

const UPDATER = join(ROOT, 'updater', 'updater.sh');
const bystanders: ChildProcess[] = [];
after(() => {
  for (const one of bystanders) one.kill('SIGKILL');
});

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/** An install folder whose new version exits at once, and whose old one notes each start. */
function install() {
  const dir = tempDir('hive-updater-inputs-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const target = join(dir, 'worker');
  const marker = join(dir, 'old-started');
  script(target, `echo started >> '${marker}'`);
  const newExe = join(dir, 'worker.next');
  script(newExe, 'exit 3');
  return { dir, dataDir, target, newExe, marker };
}

function runUpdater(
  setup: ReturnType<typeof install>,
  overrides: Record<string, string> = {},
): { code: number | null; log: string } {
  const gone = spawnSync('true').pid; // a pid that has exited: nothing to wait for
  const run = spawnSync('/bin/sh', [UPDATER], {
    env: {
      PATH: process.env.PATH ?? '',
      HIVE_UPDATER_PID: String(gone),
      HIVE_UPDATER_TARGET: setup.target,
      HIVE_UPDATER_NEW: setup.newExe,
      HIVE_UPDATER_DATA: setup.dataDir,
      HIVE_UPDATER_VERSION: '1.1.0',
      HIVE_UPDATER_HEALTH_TIMEOUT: '5',
      ...overrides,
    },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const logFile = join(setup.dataDir, 'logs', 'updater.log');
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  return { code: run.status, log: `${log}${run.stderr}` };
}

function bystander(): ChildProcess & { pid: number } {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  bystanders.push(child);
  assert.ok(child.pid !== undefined);
  return child as ChildProcess & { pid: number };
}

function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const isAlive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

test('a lock naming a bystander, with its true boot id and start time, does not get it killed', async () => {
  const setup = install();
  const sleeper = bystander();
  const lock = {
    pid: sleeper.pid,
    startedAt: 'x',
    bootId: bootId(),
    startTicks: startTicks(sleeper.pid),
  };
  writeFileSync(join(setup.dataDir, 'worker.lock'), JSON.stringify(lock));
  const { code, log } = runUpdater(setup);
  assert.equal(code, 1, log);
  assert.match(log, /1\.1\.0 exited before reporting healthy; rolled back/);
  assert.match(
    log,
    new RegExp(
      `pid ${sleeper.pid} in worker.lock runs \\S*sleep\\S*, not ${setup.target}; not killed`,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(isAlive(sleeper), 'the bystander is alive');
  assert.match(readFileSync(setup.target, 'utf8'), /old-started/, 'the old version is back');
});

test('a reused-looking pid (another start time, or no identity at all) is left alone', async () => {
  for (const lock of [
    (pid: number) => ({ pid, startedAt: 'x', bootId: bootId(), startTicks: '1' }),
    (pid: number) => ({ pid, startedAt: 'x' }),
  ]) {
    const setup = install();
    const sleeper = bystander();
    writeFileSync(join(setup.dataDir, 'worker.lock'), JSON.stringify(lock(sleeper.pid)));
    const { code, log } = runUpdater(setup);
    assert.equal(code, 1, log);
    assert.match(log, /rolled back to the previous version/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(isAlive(sleeper), `the bystander is alive:\n${log}`);
  }
});

test('shell text planted in worker.lock is never run', () => {
  const setup = install();
  const planted = join(setup.dir, 'planted-ran');
  for (const text of [
    `{"pid":1$(touch '${planted}'),"bootId":"${bootId()}","startTicks":"1"}`,
    `{"pid":"1; touch '${planted}'","bootId":"${bootId()}"}`,
    `{"pid":\`touch '${planted}'\`}\n{"pid":1}`,
  ]) {
    writeFileSync(join(setup.dataDir, 'worker.lock'), text);
    const { code, log } = runUpdater(setup);
    assert.equal(code, 1, log);
    assert.match(log, /nothing killed/);
    assert.ok(!existsSync(planted), `nothing ran:\n${log}`);
    script(setup.newExe, 'exit 3'); // the swap moved it into place: a new one for the next round
  }
});

test('inputs that are not digits (pid, health timeout) or not a version: exit 2, nothing changed', () => {
  const setup = install();
  const planted = join(setup.dir, 'planted-ran');
  const before = readFileSync(setup.target, 'utf8');
  const inputs: Record<string, string>[] = [
    { HIVE_UPDATER_PID: `1; touch '${planted}'` },
    { HIVE_UPDATER_PID: '$(id)' },
    { HIVE_UPDATER_HEALTH_TIMEOUT: `5$(touch '${planted}')` },
    { HIVE_UPDATER_VERSION: '../../../etc/x' },
  ];
  for (const overrides of inputs) {
    const { code, log } = runUpdater(setup, overrides);
    assert.equal(code, 2, log);
    assert.ok(!existsSync(planted));
  }
  assert.equal(readFileSync(setup.target, 'utf8'), before, 'the installed executable is untouched');
  assert.ok(!existsSync(setup.marker));
});
