/**
 * `worker --install` / `--uninstall` on Linux, run on the built executable (so ExecStart is a
 * real executable's path) with HOME in a temp folder: the systemd user unit's content, checked by
 * `systemd-analyze verify` where installed; idempotence and messages; with and without a user
 * systemd (a fake `systemctl` stands in for one). Windows: test/windows/wine.e2e.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { unitFile } from '../../src/cli/install-linux.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { execStartPath, loginEnv, verifyUnit } from '../helpers/login-start.ts';
import { FIXTURE_ENTRY, tempDir } from '../helpers/worker.ts';

function run(file: string, args: string[], env: NodeJS.ProcessEnv) {
  const result = spawnSync(file, args, { encoding: 'utf8', env, timeout: 30_000 });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

describe('start at login on Linux (systemd user unit)', () => {
  let exe: string;
  before(async () => {
    // Installed where a path needs every escape: spaces, non-ASCII, systemd's % and $.
    const dir = join(tempDir('hive-install-'), 'Hive Wörker 100% $dir');
    mkdirSync(dir);
    exe = join(dir, 'worker');
    copyFileSync(await builtWorker(), exe);
    execFileSync('chmod', ['755', exe]);
  });

  test('the unit: ExecStart is the executable alone, KillMode=process, Restart=on-failure, 75 retried', () => {
    const text = unitFile('/opt/hive/my "worker"/worker');
    assert.match(text, /^ExecStart="\/opt\/hive\/my \\"worker\\"\/worker"$/m);
    assert.equal(execStartPath(text), '/opt/hive/my "worker"/worker');
    for (const line of [
      'Type=simple',
      'WorkingDirectory=/opt/hive/my "worker"',
      'Environment=HIVE_SUPERVISOR=systemd',
      'KillMode=process',
      'Restart=on-failure',
      'WantedBy=default.target',
    ]) {
      assert.ok(text.split('\n').includes(line), `${line} in\n${text}`);
    }
    // Exit 75 (data folder locked) is retried: a worker is never kept down by a lock for good.
    assert.doesNotMatch(text, /RestartPreventExitStatus/);
    assert.throws(() => unitFile('relative/worker'), /absolute path/);
    assert.throws(() => unitFile('/opt/new\nline/worker'), /control characters/);
  });

  test('--install twice, then --uninstall twice, with no user systemd reachable', () => {
    const { env, unitFile: file } = loginEnv();
    const first = run(exe, ['--install'], env);
    assert.equal(first.code, 0, first.err);
    assert.match(
      first.out,
      new RegExp(`^installed: ${literal(file)} \\(starts .*worker at login\\)$`, 'm'),
    );
    assert.match(first.out, /systemctl --user could not be reached/);
    assert.match(
      first.out,
      /run in your desktop session: systemctl --user daemon-reload && systemctl --user enable --now hive-worker\.service/,
    );
    const text = readFileSync(file, 'utf8');
    assert.equal(execStartPath(text), exe, 'ExecStart is the installed executable');
    assert.ok(
      text.split('\n').includes(`WorkingDirectory=${join(exe, '..').replaceAll('%', '%%')}`),
    );
    const problems = verifyUnit(file);
    if (problems === undefined) console.log('systemd-analyze is not installed: unit not verified');
    else assert.equal(problems, '', `systemd-analyze verify --user:\n${problems}`);

    const second = run(exe, ['--install'], env);
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, new RegExp(`^already installed: ${literal(file)}$`, 'm'));
    assert.equal(readFileSync(file, 'utf8'), text);

    const removed = run(exe, ['--uninstall'], env);
    assert.equal(removed.code, 0, removed.err);
    assert.match(removed.out, new RegExp(`^removed: ${literal(file)}$`, 'm'));
    assert.ok(!existsSync(file));
    const again = run(exe, ['--uninstall'], env);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /^nothing to remove: .* does not exist$/m);
  });

  test('with a user systemd: daemon-reload and enable --now; uninstall disables and stops', () => {
    const { env, unitFile: file, calls } = loginEnv({ fakeSystemctl: true });
    const installed = run(exe, ['--install'], env);
    assert.equal(installed.code, 0, installed.err);
    assert.match(
      installed.out,
      /^enabled and started: systemctl --user status hive-worker\.service$/m,
    );
    assert.deepEqual(calls(), ['--user daemon-reload', '--user enable --now hive-worker.service']);
    const removed = run(exe, ['--uninstall'], env);
    assert.equal(removed.code, 0, removed.err);
    assert.match(removed.out, /^disabled and stopped hive-worker\.service$/m);
    assert.deepEqual(calls().slice(2), [
      '--user disable --now hive-worker.service',
      '--user daemon-reload',
    ]);
    assert.ok(!existsSync(file));
  });

  test('XDG_CONFIG_HOME unset: ~/.config/systemd/user/', () => {
    const { env, home } = loginEnv();
    delete env.XDG_CONFIG_HOME;
    assert.equal(run(exe, ['--install'], env).code, 0);
    assert.ok(existsSync(join(home, '.config', 'systemd', 'user', 'hive-worker.service')));
  });

  test('refused: settings on the command line, both flags, and running from source', () => {
    const { env, unitFile: file } = loginEnv();
    const withToken = run(exe, ['--install', '--token', 'secret'], env);
    assert.equal(withToken.code, 78);
    assert.match(withToken.err, /--install takes no other arguments .*worker\.config\.json/);
    assert.equal(run(exe, ['--install', '--uninstall'], env).code, 78);
    const source = run(process.execPath, [FIXTURE_ENTRY, '--install'], env);
    assert.equal(source.code, 78);
    assert.match(source.err, /works from the single executable only/);
    assert.ok(!existsSync(file), 'nothing written');
  });
});

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
