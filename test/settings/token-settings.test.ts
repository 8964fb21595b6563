/**
 * TOKEN_FILE and TOKEN (src/settings/token.ts): which wins, what a missing or empty file does at start
 * (exit 78, a real worker process) and when read again (readToken), and when the token would
 * cross the network in clear text.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadSettings, readToken } from '../../src/settings/load.ts';
import { sendsTokenInClearText } from '../../src/settings/token.ts';
import { configProblems } from '../helpers/settings.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, tempDir } from '../helpers/worker.ts';

const problemsOf = configProblems;

describe('TOKEN_FILE', () => {
  test('a relative TOKEN_FILE in worker.config.json is read beside it, trimmed', () => {
    const dir = tempDir('hive-token-');
    mkdirSync(join(dir, 'secrets'));
    writeFileSync(join(dir, 'secrets', 'token'), '  from-the-file-1234\n');
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify({ TOKEN_FILE: 'secrets/token' }));
    const { settings } = loadSettings({ argv: [], env: {}, installDir: dir });
    assert.equal(settings.token, 'from-the-file-1234');
    assert.equal(settings.tokenFrom, `TOKEN_FILE ${join(dir, 'secrets', 'token')}`);
  });

  test('the higher-precedence place wins; both in one place is an error', () => {
    const dir = tempDir('hive-token-');
    const file = join(dir, 'token');
    writeFileSync(file, 'file-token-5678');
    writeFileSync(join(dir, 'worker.config.json'), JSON.stringify({ TOKEN_FILE: file }));
    const env = { HIVE_TOKEN: 'env-token-1234' };
    assert.equal(loadSettings({ argv: [], env, installDir: dir }).settings.token, 'env-token-1234');
    const flagged = loadSettings({ argv: ['--token-file', file], env, installDir: dir }).settings;
    assert.equal(flagged.token, 'file-token-5678', 'a flag beats the environment');
    assert.deepEqual(
      problemsOf(() =>
        loadSettings({ argv: [], env: { ...env, HIVE_TOKEN_FILE: file }, installDir: dir }),
      ),
      ['TOKEN and TOKEN_FILE are both set (HIVE_TOKEN, HIVE_TOKEN_FILE): keep one of them'],
    );
  });

  test('a missing or empty file is a clear configuration error', () => {
    const dir = tempDir('hive-token-');
    const missing = join(dir, 'nope');
    assert.deepEqual(
      problemsOf(() =>
        loadSettings({ argv: [], env: { HIVE_TOKEN_FILE: missing }, installDir: dir }),
      ),
      [`Cannot read TOKEN_FILE ${missing} (from HIVE_TOKEN_FILE): ENOENT`],
    );
    writeFileSync(join(dir, 'empty'), ' \n');
    assert.match(
      problemsOf(() =>
        loadSettings({ argv: [], env: { HIVE_TOKEN_FILE: join(dir, 'empty') }, installDir: dir }),
      )[0] ?? '',
      /TOKEN_FILE .*empty \(from HIVE_TOKEN_FILE\) is empty/,
    );
  });

  test('a worker started with an unreadable TOKEN_FILE exits 78 and says which file', () => {
    const missing = join(tempDir('hive-token-'), 'gone');
    const run = spawnSync(process.execPath, [FIXTURE_ENTRY, '--once', '--no-pause'], {
      env: { ...process.env, ...FAST_SETTINGS, HIVE_TOKEN_FILE: missing },
      encoding: 'utf8',
    });
    assert.equal(run.status, 78, run.stderr);
    assert.match(run.stderr, new RegExp(`Cannot read TOKEN_FILE ${missing}`));
  });

  test('readToken reads the sources as they are now (what a 401 triggers)', () => {
    const dir = tempDir('hive-token-');
    const config = join(dir, 'worker.config.json');
    writeFileSync(config, JSON.stringify({ TOKEN: 'old-token-1111' }));
    const input = { argv: [], env: {}, installDir: dir };
    assert.equal(readToken(input).token, 'old-token-1111');
    writeFileSync(config, JSON.stringify({ TOKEN: 'new-token-2222' }));
    assert.deepEqual(readToken(input), {
      token: 'new-token-2222',
      from: 'TOKEN (from worker.config.json)',
    });
    writeFileSync(config, JSON.stringify({ TOKEN_FILE: join(dir, 'missing') }));
    assert.throws(() => readToken(input), /Cannot read TOKEN_FILE/);
  });
});

describe('a token in clear text', () => {
  test('plain http: to another host is; https: and loopback are not', () => {
    assert.equal(sendsTokenInClearText('http://hive.example.com/api/', 'secret-1'), true);
    assert.equal(sendsTokenInClearText('http://10.0.0.5:8080/api/', 'secret-1'), true);
    assert.equal(sendsTokenInClearText('https://hive.example.com/api/', 'secret-1'), false);
    for (const local of ['127.0.0.1:8080', 'localhost', '[::1]:80', '127.1.2.3']) {
      assert.equal(sendsTokenInClearText(`http://${local}/api/`, 'secret-1'), false, local);
    }
    assert.equal(sendsTokenInClearText('http://hive.example.com/api/', ''), false, 'no token');
  });

  test('the banner and --status warn about it', () => {
    const dataDir = tempDir('hive-token-');
    const env = {
      ...process.env,
      ...FAST_SETTINGS,
      HIVE_DATA_DIR: dataDir,
      HIVE_SERVER_URL: 'http://192.0.2.1:9/api/', // TEST-NET-1: nothing answers there
      HIVE_TOKEN: 'clear-text-token-1234',
      HIVE_CONNECT_TIMEOUT: '0.2',
    };
    const status = spawnSync(process.execPath, [FIXTURE_ENTRY, '--status'], {
      env,
      encoding: 'utf8',
    });
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /WARNING +the token travels in clear text/);
    const json = spawnSync(process.execPath, [FIXTURE_ENTRY, '--status', '--json'], {
      env,
      encoding: 'utf8',
    });
    assert.equal(JSON.parse(json.stdout).tokenInClearText, true);
    // The banner is printed before the first claim; --once gives up after that claim fails.
    const run = spawnSync(process.execPath, [FIXTURE_ENTRY, '--once'], {
      env,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.match(run.stdout + run.stderr, /WARNING +the token travels in clear text/);
    assert.doesNotMatch(run.stdout + run.stderr, /clear-text-token-1234/, 'never the token itself');
  });
});
