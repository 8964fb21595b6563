/**
 * Settings problems in the user's terms: a mistyped name gets "did you mean …?" (config file,
 * HIVE_* variable, flag), a SERVER_URL with user:password@ is refused without showing them, and a
 * refused token names where it came from.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadSettings } from '../../src/settings/load.ts';
import { closestName, editDistance } from '../../src/settings/suggest.ts';
import { SETTING_NAMES } from '../../src/settings/table.ts';
import { tokenAdvice } from '../../src/settings/token.ts';
import { configProblems } from '../helpers/settings.ts';
import { tempDir } from '../helpers/worker.ts';

const load = (options: { argv?: string[]; env?: Record<string, string>; file?: object } = {}) => {
  const dir = tempDir('hive-user-terms-');
  if (options.file !== undefined)
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify(options.file));
  return loadSettings({ argv: options.argv ?? [], env: options.env ?? {}, installDir: dir });
};

describe('a mistyped setting name', () => {
  test('edit distance: a slip, a swap, a missing letter', () => {
    assert.equal(editDistance('NO_TASK_SLEP', 'NO_TASK_SLEEP'), 1);
    assert.equal(editDistance('CONCURERNCY', 'CONCURRENCY'), 1);
    assert.equal(editDistance('abc', 'abc'), 0);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(closestName('no_task_slep', SETTING_NAMES), 'NO_TASK_SLEEP');
    assert.equal(closestName('NOPE', SETTING_NAMES), undefined, 'no guess for a far name');
  });

  test('in worker.config.json: did you mean, instead of the list of every setting', () => {
    const [problem, ...rest] = configProblems(() => load({ file: { NO_TASK_SLEP: 3 } }));
    assert.match(
      problem ?? '',
      /^Unknown setting "NO_TASK_SLEP" in .*; did you mean NO_TASK_SLEEP\?$/,
    );
    assert.deepEqual(rest, []);
    const [far] = configProblems(() => load({ file: { NOPE: 1 } }));
    assert.match(far ?? '', /the settings are: SERVER_URL, TOKEN/, 'a far name still lists them');
  });

  test('as a HIVE_* variable: did you mean (it would otherwise be silently unused)', () => {
    assert.deepEqual(
      configProblems(() => load({ env: { HIVE_NO_TASK_SLEP: '3' } })),
      ['Unknown variable HIVE_NO_TASK_SLEP; did you mean HIVE_NO_TASK_SLEEP?'],
    );
    // Not settings: the updater's hand-over, the build's key, other programs' HIVE_ names.
    const { settings } = load({
      env: {
        HIVE_UPDATER_HEALTH_TIMEOUT: '5',
        HIVE_RELEASE_PUBLIC_KEY: 'x',
        HIVE_KEEP_TEMP: '1',
        HIVE_SUPERVISOR: 'none',
      },
    });
    assert.ok(settings.serverUrl);
  });

  test('as a flag: did you mean, in one line', () => {
    assert.deepEqual(
      configProblems(() => load({ argv: ['--no-task-slep', '3'] })),
      ['Unknown flag --no-task-slep; did you mean --no-task-sleep?'],
    );
    assert.deepEqual(
      configProblems(() => load({ argv: ['--staus'] })),
      ['Unknown flag --staus; did you mean --status?'],
    );
    assert.match(
      configProblems(() => load({ argv: ['--bogus-thing'] }))[0] ?? '',
      /--bogus-thing.*see --help$/,
    );
  });
});

describe('SERVER_URL with user:password@', () => {
  test('is a configuration error naming TOKEN/TOKEN_FILE, and never shows the password', () => {
    for (const [env, source] of [
      [{ HIVE_SERVER_URL: 'http://alice:pw-s3cret@hive.example.com/api/' }, 'HIVE_SERVER_URL'],
      [{ HIVE_SERVER_URL: 'https://tok-s3cret@hive.example.com/' }, 'HIVE_SERVER_URL'],
    ] as const) {
      const problems = configProblems(() => load({ env }));
      assert.equal(problems.length, 1);
      const [problem = ''] = problems;
      assert.match(problem, /^Expected SERVER_URL to be an address without user:password@/);
      assert.match(problem, /put it in TOKEN or TOKEN_FILE/);
      assert.match(problem, /got "https?:\/\/\*\*\*@hive\.example\.com\//);
      assert.ok(problem.endsWith(`(from ${source})`), problem);
      assert.ok(!problem.includes('s3cret') && !problem.includes('alice'), problem);
    }
    const [fromFlag = ''] = configProblems(() =>
      load({ argv: ['--server-url', 'http://bob:hunter2@127.0.0.1:9/'] }),
    );
    assert.ok(!fromFlag.includes('hunter2'));
    assert.match(fromFlag, /\(from --server-url\)$/);
  });
});

describe('a refused token', () => {
  test('names the file for TOKEN_FILE, the place for TOKEN, both when none was given', () => {
    assert.equal(
      tokenAdvice('TOKEN_FILE /etc/hive/token'),
      'check TOKEN_FILE /etc/hive/token (it is read again before the next request)',
    );
    assert.equal(
      tokenAdvice('TOKEN (from worker.config.json)'),
      'check TOKEN (from worker.config.json) (it is read again before the next request)',
    );
    assert.equal(tokenAdvice(''), 'the worker sent no token: set TOKEN or TOKEN_FILE');
  });
});
