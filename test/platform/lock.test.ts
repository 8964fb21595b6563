/**
 * The data folder's lock (src/platform/lock.ts) on real processes: a lock naming a live but
 * unrelated process (a fake reboot) is stale; one naming a running worker is not; contenders that
 * start in the same instant — over a stale lock, the hostile case — leave exactly one holder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acquireLock, isLockHeld, LOCK_FILE, readLock } from '../../src/platform/lock.ts';
import { identify } from '../../src/platform/process-identity.ts';
import { tempDir } from '../helpers/worker.ts';

const CONTENDER = fileURLToPath(new URL('../fixtures/lock-contender.ts', import.meta.url));
const OTHER_BOOT = '00000000-0000-4000-8000-000000000000';

function writeLock(dataDir: string, lock: Record<string, unknown>): void {
  writeFileSync(join(dataDir, LOCK_FILE), JSON.stringify(lock));
}

describe('the lock', { skip: process.platform !== 'linux' && 'Linux identities' }, () => {
  test('a fake reboot: a lock naming a live, unrelated pid from another boot is taken over', () => {
    for (const pid of [1, process.pid]) {
      const dataDir = tempDir();
      writeLock(dataDir, {
        pid,
        startedAt: 'before the reboot',
        bootId: OTHER_BOOT,
        startTicks: '42',
      });
      const lock = readLock(dataDir);
      assert.ok(lock !== undefined && !isLockHeld(lock), `pid ${pid}: read as stale`);
      const release = acquireLock(dataDir);
      assert.equal(readLock(dataDir)?.pid, process.pid);
      release();
      assert.ok(!existsSync(join(dataDir, LOCK_FILE)), 'released');
    }
  });

  test('same boot, same pid, another start time (the pid was reused): stale', () => {
    const dataDir = tempDir();
    const me = identify(1);
    assert.ok(me.bootId !== undefined && me.startTicks !== undefined, 'Linux gives both');
    writeLock(dataDir, { ...me, startedAt: 'x', startTicks: `${BigInt(me.startTicks) + 1n}` });
    acquireLock(dataDir)();
  });

  test('a lock naming a running process by its identity is held: LOCKED names it', async () => {
    const dataDir = tempDir();
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => holder.once('spawn', resolve));
      const pid = holder.pid ?? 0;
      writeLock(dataDir, { ...identify(pid), startedAt: 'now' });
      assert.throws(() => acquireLock(dataDir), new RegExp(`another worker \\(pid ${pid}`));
      // Written by an older version (pid alone): judged by the pid, as before.
      writeLock(dataDir, { pid, startedAt: 'now' });
      assert.throws(() => acquireLock(dataDir), /another worker/);
      assert.equal(JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')).pid, pid, 'kept');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('the lock file starts with the pid, as the updater scripts read it', () => {
    const dataDir = tempDir();
    const release = acquireLock(dataDir);
    const text = readFileSync(join(dataDir, LOCK_FILE), 'utf8');
    assert.match(text, new RegExp(`^\\{"pid":${process.pid},`));
    release();
  });

  for (const stale of [false, true]) {
    test(`contenders starting in the same instant${stale ? ' over a stale lock' : ''}: exactly one takes it`, async () => {
      const dataDir = tempDir();
      if (stale)
        writeLock(dataDir, { pid: 1, startedAt: 'x', bootId: OTHER_BOOT, startTicks: '1' });
      const go = join(tempDir(), 'go');
      const contenders = Array.from({ length: 6 }, () => runContender(dataDir, go));
      await Promise.all(contenders.map((one) => one.ready));
      writeFileSync(go, '');
      const outputs = await Promise.all(contenders.map((one) => one.output));
      const took = outputs.filter((out) => out.startsWith('took'));
      assert.equal(took.length, 1, outputs.join(''));
      assert.equal(
        outputs.filter((out) => out.startsWith('locked: another worker')).length,
        5,
        outputs.join(''),
      );
    });
  }
});

/** A contender process: `ready` once it spins waiting for `go`; `output` what it said after. */
function runContender(dataDir: string, go: string) {
  const child = spawn(process.execPath, [CONTENDER, dataDir, go, '2000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  const output = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve(out.replace(/^ready\n/, '')));
  });
  return { ready, output };
}
