/**
 * updater.bat under Wine 10 never runs text read from a file (issue 27.3): a worker.lock whose
 * "pid" is a command, and a health marker written to break out of its comparison, are read on the
 * rollback path and neither runs; the rollback itself still happens. The "versions" are tiny .cmd
 * scripts (started by updater.bat's `start` like worker.exe), so no build is needed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import { readText } from '../helpers/releases.ts';
import { WinePrefix } from '../helpers/wine.ts';

let prefix: WinePrefix;
before(() => {
  prefix = new WinePrefix();
  prefix.init();
});
after(() => prefix?.kill());

async function until(check: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`timed out waiting until ${what}`);
}

const crlf = (lines: string[]) => `${lines.join('\r\n')}\r\n`;
/** The "old version": notes that it ran. */
const OLD_VERSION = crlf(['@echo off', '>> old-started.txt echo ok']);

test('a command as the lock’s pid and a marker that breaks quotes are never run; the rollback happens', async () => {
  const dir = prefix.driveC('hive inputs');
  const data = join(dir.host, 'data');
  const pwnedLock = join(prefix.dir.host, 'drive_c', 'hive-pwned-lock.txt');
  const pwnedMarker = join(prefix.dir.host, 'drive_c', 'hive-pwned-marker.txt');
  // The old version notes that it was started again; the new one writes a hostile health marker.
  writeFileSync(join(dir.host, 'worker.cmd'), OLD_VERSION);
  writeFileSync(
    join(dir.host, 'marker.txt'),
    crlf(['x" == "x" echo pwned> C:\\hive-pwned-marker.txt & if "x']),
  );
  writeFileSync(
    join(dir.host, 'next.cmd'),
    crlf(['@echo off', 'copy /y marker.txt data\\update\\healthy >nul', 'exit /b 0']),
  );
  mkdirSync(join(data, 'update'), { recursive: true });
  writeFileSync(
    join(data, 'worker.lock'),
    '{"pid":1 & echo pwned> C:\\hive-pwned-lock.txt & rem ,"startedAt":"x"}',
  );
  copyFileSync(join(ROOT, 'updater', 'updater.bat'), join(dir.host, 'updater.bat'));
  const run = prefix.run('cmd.exe', ['/d', '/v:off', '/c', `${dir.windows}\\updater.bat`], {
    env: {
      HIVE_UPDATER_PID: '99999',
      HIVE_UPDATER_TARGET: `${dir.windows}\\worker.cmd`,
      HIVE_UPDATER_NEW: `${dir.windows}\\next.cmd`,
      HIVE_UPDATER_DATA: `${dir.windows}\\data`,
      HIVE_UPDATER_VERSION: '1.1.0',
      HIVE_UPDATER_HEALTH_TIMEOUT: '3',
    },
  });
  const code = await run.exited;
  const log = readText(join(data, 'logs', 'updater.log'));
  assert.equal(code, 1, `${run.output()}\n${log}`);
  assert.match(log, /1\.1\.0 did not report healthy within 3 s; rolled back/, log);
  assert.ok(!existsSync(pwnedLock), `the lock's "pid" did not run:\n${log}`);
  assert.ok(!existsSync(pwnedMarker), `the marker's text did not run:\n${log}`);
  assert.equal(
    readFileSync(join(dir.host, 'worker.cmd'), 'utf8'),
    OLD_VERSION,
    'the old version is back in place',
  );
  await until(() => existsSync(join(dir.host, 'old-started.txt')), 'the old version ran again');
});

test('a pid or health timeout that is not digits: exit 2 before anything is touched', async () => {
  const dir = prefix.driveC('hive inputs 2');
  writeFileSync(join(dir.host, 'worker.cmd'), crlf(['@echo off']));
  copyFileSync(join(ROOT, 'updater', 'updater.bat'), join(dir.host, 'updater.bat'));
  for (const [pid, timeout] of [
    ['1 & echo pwned> C:\\hive-pwned-pid.txt', '3'],
    ['42', '3" & echo pwned> C:\\hive-pwned-pid.txt & rem "'],
  ]) {
    const run = prefix.run('cmd.exe', ['/d', '/v:off', '/c', `${dir.windows}\\updater.bat`], {
      env: {
        HIVE_UPDATER_PID: pid ?? '',
        HIVE_UPDATER_TARGET: `${dir.windows}\\worker.cmd`,
        HIVE_UPDATER_NEW: `${dir.windows}\\next.cmd`,
        HIVE_UPDATER_DATA: `${dir.windows}\\data`,
        HIVE_UPDATER_VERSION: '1.1.0',
        HIVE_UPDATER_HEALTH_TIMEOUT: timeout ?? '',
      },
    });
    assert.equal(await run.exited, 2, run.output());
    assert.ok(!existsSync(join(prefix.dir.host, 'drive_c', 'hive-pwned-pid.txt')));
    assert.ok(!existsSync(join(dir.host, 'data')), 'nothing was created');
  }
});
