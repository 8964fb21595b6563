/**
 * The CLI in the user's terms, on real worker processes: `--status --json` still prints JSON with a
 * bad setting (exit 78), a SERVER_URL with user:password@ stops the worker (78) without printing
 * them, and a refused token from TOKEN_FILE names that file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WorkerStatus } from '../../src/cli/status-command.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, startWorker, tempDir } from '../helpers/worker.ts';

/** Runs the fixture entry to its end: exit code, stdout, stderr. */
function runEntry(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [FIXTURE_ENTRY, ...args],
      { env: { ...process.env, ...FAST_SETTINGS, ...env } },
      (error, stdout, stderr) => resolve({ code: Number(error?.code ?? 0), stdout, stderr }),
    );
  });
}

describe('the CLI in the user terms', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ token: 'the-right-token' });
  });
  after(() => server?.close());

  test('--status --json with a bad setting prints JSON with the problems, exit 78', async () => {
    const dataDir = tempDir('hive-status-bad-');
    const { code, stdout, stderr } = await runEntry(['--status', '--json'], {
      HIVE_DATA_DIR: dataDir,
      HIVE_NO_TASK_SLEEP: 'abc',
      HIVE_SERVER_URL: server.url,
    });
    assert.equal(code, 78, stderr);
    const status = JSON.parse(stdout) as WorkerStatus;
    assert.deepEqual(status.configProblems, [
      'Expected NO_TASK_SLEEP to be a number of seconds ≥ 0, got "abc" (from HIVE_NO_TASK_SLEEP)',
    ]);
    assert.equal(status.dataDir, dataDir, 'what the valid settings say is still read');
    assert.ok(status.serverUrl?.startsWith(server.url.replace(/\/$/, '')), status.serverUrl ?? '');
    assert.equal(status.running, false);
    // Fine settings: the same keys, no problems, exit 0.
    const fine = await runEntry(['--status', '--json'], {
      HIVE_DATA_DIR: dataDir,
      HIVE_SERVER_URL: server.url,
    });
    assert.equal(fine.code, 0);
    const fineStatus = JSON.parse(fine.stdout) as WorkerStatus;
    assert.deepEqual(fineStatus.configProblems, []);
    assert.deepEqual(Object.keys(fineStatus), Object.keys(status));
  });

  test('SERVER_URL with user:password@ stops the worker at start, exit 78, password unsaid', async () => {
    const dataDir = tempDir('hive-userinfo-');
    const url = new URL(server.url);
    url.username = 'alice';
    url.password = 'pw-s3cret';
    const { code, stdout, stderr } = await runEntry([], {
      HIVE_DATA_DIR: dataDir,
      HIVE_SERVER_URL: url.href,
      HIVE_TOKEN: 'the-right-token',
    });
    assert.equal(code, 78);
    assert.match(stderr, /SERVER_URL to be an address without user:password@/);
    assert.match(stderr, /TOKEN or TOKEN_FILE/);
    assert.ok(!`${stdout}${stderr}`.includes('pw-s3cret'), 'the password is never printed');
  });

  test('a refused token from TOKEN_FILE names that file', async () => {
    const dir = tempDir('hive-token-file-');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'a-wrong-token\n');
    const worker = startWorker({ serverUrl: server.url, env: { HIVE_TOKEN_FILE: tokenFile } });
    try {
      await worker.waitForOutput(/refused our token \(HTTP 40[13]\): check TOKEN_FILE (\S+)/);
      assert.ok(
        worker.output().includes(`check TOKEN_FILE ${tokenFile} (it is read again`),
        worker.output(),
      );
    } finally {
      await worker.stop();
    }
  });
});
