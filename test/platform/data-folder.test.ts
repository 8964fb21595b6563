/**
 * A data folder that is not ours alone is refused (exit 78, one line naming the folder and the
 * fix), and nothing in it is followed through a symlink: the built executable, run as root here,
 * on folders chowned to `nobody` and opened to everyone (issue 27.3).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { acquireLock } from '../../src/platform/lock.ts';
import { RotatingLogFile } from '../../src/platform/log-file.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { FAST_SETTINGS, tempDir } from '../helpers/worker.ts';

const NOBODY = 65534;
const VICTIM_TEXT = 'precious\n';

/** The built worker on `dataDir`, against a server that is never reached (it refuses first). */
function runOn(exe: string, dataDir: string, args: string[] = []) {
  const run = spawnSync(exe, args, {
    env: {
      ...process.env,
      ...FAST_SETTINGS,
      HIVE_SERVER_URL: 'http://127.0.0.1:9',
      HIVE_DATA_DIR: dataDir,
    },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

/** A file outside the data folder that a planted symlink points at, 0644. */
function victim(): string {
  const file = join(tempDir('hive-victim-'), 'victim.txt');
  writeFileSync(file, VICTIM_TEXT, { mode: 0o644 });
  chmodSync(file, 0o644);
  return file;
}

function assertUntouched(file: string): void {
  assert.equal(readFileSync(file, 'utf8'), VICTIM_TEXT, 'nothing appended to the target');
  assert.equal((statSync(file).mode & 0o777).toString(8), '644', 'the target was not chmod-ed');
}

function oneLineNaming(output: string, ...parts: string[]): void {
  const lines = output.trim().split('\n');
  const line = lines.find((one) => parts.every((part) => one.includes(part)));
  assert.ok(line !== undefined, `one line names ${parts.join(', ')}:\n${output}`);
}

describe('a data folder that must be ours (run as root, as the suite is)', () => {
  let exe: string;
  before(async () => {
    exe = await builtWorker();
  });

  test('owned by nobody and 0777, with logs/worker.log a symlink: exit 78, the target untouched', () => {
    const dataDir = join(tempDir('hive-foreign-'), 'data');
    mkdirSync(join(dataDir, 'logs'), { recursive: true });
    const target = victim();
    symlinkSync(target, join(dataDir, 'logs', 'worker.log'));
    for (const dir of [dataDir, join(dataDir, 'logs')]) {
      chownSync(dir, NOBODY, NOBODY);
      chmodSync(dir, 0o777);
    }
    const { code, output } = runOn(exe, dataDir);
    assert.equal(code, 78, output);
    oneLineNaming(output, dataDir, 'another user', 'uid 65534', 'DATA_DIR');
    assertUntouched(target);
    assert.ok(lstatSync(join(dataDir, 'logs', 'worker.log')).isSymbolicLink());
    // Also when only the owner is foreign (0700: root could still write there).
    chmodSync(dataDir, 0o700);
    const closed = runOn(exe, dataDir);
    assert.equal(closed.code, 78, closed.output);
    oneLineNaming(closed.output, dataDir, 'another user');
    assertUntouched(target);
  });

  test('ours but writable by others: exit 78 naming chmod go-w; ours and private: it runs', () => {
    const dataDir = tempDir('hive-open-');
    chmodSync(dataDir, 0o770);
    const { code, output } = runOn(exe, dataDir);
    assert.equal(code, 78, output);
    oneLineNaming(output, dataDir, 'writable by other users', `chmod go-w ${dataDir}`);
    chmodSync(dataDir, 0o750);
    const status = runOn(exe, dataDir, ['--status']);
    assert.equal(status.code, 0, status.output);
  });

  test('ours, with logs/worker.log a symlink planted in it: exit 78, the target untouched', () => {
    const dataDir = tempDir('hive-planted-');
    mkdirSync(join(dataDir, 'logs'), { mode: 0o700 });
    const target = victim();
    symlinkSync(target, join(dataDir, 'logs', 'worker.log'));
    const { code, output } = runOn(exe, dataDir);
    assert.equal(code, 78, output);
    oneLineNaming(output, join(dataDir, 'logs', 'worker.log'), 'symbolic link', 'remove it');
    assertUntouched(target);
    assert.ok(!existsSync(join(dataDir, 'worker.lock')), 'refused before the lock was taken');
    // A symlink right in the data folder (a planted worker.lock) is refused the same way.
    const other = tempDir('hive-planted-lock-');
    symlinkSync(target, join(other, 'worker.lock'));
    const lock = runOn(exe, other);
    assert.equal(lock.code, 78, lock.output);
    oneLineNaming(lock.output, join(other, 'worker.lock'), 'symbolic link');
    assertUntouched(target);
  });

  test('a parent we would create it in: open to others is refused, sticky like /tmp is fine', () => {
    const open = tempDir('hive-parent-');
    chmodSync(open, 0o777);
    const dataDir = join(open, 'data');
    const { code, output } = runOn(exe, dataDir);
    assert.equal(code, 78, output);
    oneLineNaming(output, open, 'sticky bit', `chmod go-w ${open}`);
    assert.throws(() => statSync(dataDir), 'nothing was created in it');

    const foreign = tempDir('hive-parent-nobody-');
    chownSync(foreign, NOBODY, NOBODY);
    const inForeign = runOn(exe, join(foreign, 'data'));
    assert.equal(inForeign.code, 78, inForeign.output);
    oneLineNaming(inForeign.output, foreign, 'another user');

    const sticky = tempDir('hive-sticky-');
    chmodSync(sticky, 0o1777);
    const status = runOn(exe, join(sticky, 'data'), ['--status']);
    assert.equal(status.code, 0, status.output);
    assert.equal((statSync(join(sticky, 'data')).mode & 0o777).toString(8), '700');
  });
});

describe('inside the data folder, nothing is opened through a symlink', () => {
  test('the log file: O_NOFOLLOW, so a link to another file is refused and that file untouched', () => {
    const target = victim();
    const link = join(tempDir('hive-log-link-'), 'worker.log');
    symlinkSync(target, link);
    assert.throws(
      () => new RotatingLogFile({ path: link, maxBytes: 1024, files: 2 }),
      (error: Error & { code?: string }) =>
        error.code === 'CONFIG' && error.message.includes(`${link} is a symbolic link`),
    );
    assertUntouched(target);
  });

  test('the lock: a link planted under its temp name is replaced, never written through', () => {
    const target = victim();
    const dataDir = tempDir('hive-lock-link-');
    symlinkSync(target, join(dataDir, `worker.lock.${process.pid}.tmp`));
    const release = acquireLock(dataDir);
    try {
      assertUntouched(target);
      assert.match(readFileSync(join(dataDir, 'worker.lock'), 'utf8'), /"pid":\d+/);
      assert.ok(!lstatSync(join(dataDir, 'worker.lock')).isSymbolicLink());
    } finally {
      release();
    }
  });
});
