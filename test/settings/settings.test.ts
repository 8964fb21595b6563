import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { helpText } from '../../src/cli/help.ts';
import { MEMORY_TRIM, NO_TASK_SLEEP, SERVER_URL, WORKER_VERSION } from '../../src/config.ts';
import { loadSettings } from '../../src/settings/load.ts';
import { configProblems } from '../helpers/settings.ts';
import { tempDir } from '../helpers/worker.ts';

const emptyDir = () => tempDir('hive-settings-');

const problemsOf = configProblems;

describe('settings', () => {
  test('WORKER_VERSION equals package.json version', () => {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as {
      version: string;
    };
    assert.equal(WORKER_VERSION, pkg.version);
  });

  test('defaults come from src/config.ts, in milliseconds', () => {
    const { settings } = loadSettings({ argv: [], env: {}, installDir: emptyDir() });
    assert.equal(settings.serverUrl, SERVER_URL);
    assert.equal(settings.noTaskSleepMs, NO_TASK_SLEEP * 1000);
    assert.ok(Object.isFrozen(settings));
  });

  test('config file < environment < flags', () => {
    const dir = emptyDir();
    writeFileSync(
      join(dir, 'worker.config.json'),
      JSON.stringify({ NO_TASK_SLEEP: 7, TIME_ERROR_SLEEP: 3, WAIT_SEC: 9 }),
    );
    const { settings } = loadSettings({
      argv: ['--time-error-sleep', '1.5'],
      env: { HIVE_NO_TASK_SLEEP: '2', HIVE_TIME_ERROR_SLEEP: '4' },
      installDir: dir,
    });
    assert.equal(settings.noTaskSleepMs, 2000, 'env beats file');
    assert.equal(settings.errorSleepMs, 1500, 'flag beats env');
    assert.equal(settings.waitSec, 9, 'file beats default');
  });

  test('MEMORY_TRIM: 5 s by default, 0 turns it off, a negative one is named', () => {
    const load = (env: Record<string, string>) =>
      loadSettings({ argv: [], env, installDir: emptyDir() }).settings.memoryTrimMs;
    assert.equal(load({}), MEMORY_TRIM * 1000);
    assert.equal(load({ HIVE_MEMORY_TRIM: '0' }), 0);
    assert.equal(load({ HIVE_MEMORY_TRIM: '0.5' }), 500);
    assert.deepEqual(
      problemsOf(() => load({ HIVE_MEMORY_TRIM: '-1' })),
      ['Expected MEMORY_TRIM to be a number of seconds ≥ 0, got "-1" (from HIVE_MEMORY_TRIM)'],
    );
  });

  test('a trailing slash is added to SERVER_URL so paths resolve beneath it', () => {
    const { settings } = loadSettings({
      argv: ['--server-url', 'https://hive.example.com/api'],
      env: {},
      installDir: emptyDir(),
    });
    assert.equal(settings.serverUrl, 'https://hive.example.com/api/');
  });

  test('every bad value is reported at once, naming the field, the value, the expectation and the source', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify({ LOG_LEVEL: 'loud', NOPE: 1 }));
    const problems = problemsOf(() =>
      loadSettings({
        argv: ['--wait-sec', '1000'],
        env: { HIVE_NO_TASK_SLEEP: 'abc', HIVE_SERVER_URL: 'ftp://x', HIVE_TOKEN: '' },
        installDir: dir,
      }),
    );
    assert.deepEqual(problems, [
      `Unknown setting "NOPE" in ${join(dir, 'worker.config.json')}; the settings are: ${problems[0]?.split('the settings are: ')[1]}`,
      'Expected SERVER_URL to be an http:// or https:// URL, got "ftp://x" (from HIVE_SERVER_URL)',
      'Expected NO_TASK_SLEEP to be a number of seconds ≥ 0, got "abc" (from HIVE_NO_TASK_SLEEP)',
      'Expected WAIT_SEC to be a whole number from 0 to 300, got "1000" (from --wait-sec)',
      'Expected LOG_LEVEL to be one of trace, debug, info, warn, error, fatal, got "loud" (from worker.config.json)',
    ]);
  });

  test('a bad token is reported without showing it', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify({ TOKEN: 12345678 }));
    const problems = problemsOf(() => loadSettings({ argv: [], env: {}, installDir: dir }));
    assert.deepEqual(problems, [
      'Expected TOKEN to be a string, got (hidden) (from worker.config.json)',
    ]);
  });

  test('a config file that is not JSON, and an unknown flag, are clear errors', () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'worker.config.json'), '{ "SERVER_URL": ');
    assert.match(
      problemsOf(() => loadSettings({ argv: [], env: {}, installDir: dir }))[0] ?? '',
      /is not valid JSON/,
    );
    assert.match(
      problemsOf(() => loadSettings({ argv: ['--bogus'], env: {}, installDir: dir }))[0] ?? '',
      /--bogus.*see --help/,
    );
    assert.match(
      problemsOf(() =>
        loadSettings({ argv: ['--config', join(dir, 'missing.json')], env: {}, installDir: dir }),
      )[0] ?? '',
      /Cannot read the config file/,
    );
  });

  test('HIVE_SUPERVISOR (set by the systemd unit): systemd, none when unset, else an error', () => {
    const load = (env: Record<string, string>) =>
      loadSettings({ argv: [], env, installDir: emptyDir() }).options.supervisor;
    assert.equal(load({ HIVE_SUPERVISOR: 'systemd' }), 'systemd');
    assert.equal(load({}), 'none');
    assert.equal(load({ HIVE_SUPERVISOR: '' }), 'none');
    assert.deepEqual(
      problemsOf(() => load({ HIVE_SUPERVISOR: 'upstart' })),
      ['Expected HIVE_SUPERVISOR to be systemd or empty, got "upstart" (from HIVE_SUPERVISOR)'],
    );
  });

  test('--help lists every setting with its env var and default', () => {
    const text = helpText('9.9.9');
    for (const needle of [
      '--server-url',
      'HIVE_SERVER_URL',
      'HIVE_NO_TASK_SLEEP',
      'default 5',
      '--once',
      '--config FILE',
    ]) {
      assert.ok(text.includes(needle), `help mentions ${needle}`);
    }
  });
});
