/**
 * Private by default: the data folder a worker makes is 0700, its log 0600 (also one an older
 * version left 0644), a partial download 0600; and no secret, whatever its length, reaches a log
 * line — not from a child logger's bindings, not from deep inside a field.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { openConsoleStream } from '../../src/platform/console.ts';
import { createLogger, Secrets } from '../../src/platform/log.ts';
import { RotatingLogFile } from '../../src/platform/log-file.ts';
import { downloadRelease } from '../../src/update/download.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

const modeOf = (path: string) => statSync(path).mode & 0o777;
const posix = process.platform !== 'win32';

describe('file modes', { skip: !posix && 'POSIX modes' }, () => {
  let server: TestServer;
  const releases = tempDir('hive-releases-');
  const payload = randomBytes(64 * 1024);
  writeFileSync(join(releases, 'worker-9.9.9-linux-x64.zip'), payload);
  before(async () => {
    server = await startTestServer({ releasesDir: releases });
  });
  after(() => server?.close());

  test('a worker makes its data folder 0700 and its log 0600; an existing 0644 log is narrowed', async () => {
    const dataDir = join(tempDir(), 'not-yet', 'data');
    const w = startWorker({ serverUrl: server.url, dataDir, args: ['--once'] });
    await server.admin.enqueue({ id: 'private-1', type: 'echo', payload: 1 });
    assert.equal((await w.exitedWithin(30_000)).code, 0, w.output());
    assert.equal(modeOf(dataDir).toString(8), '700');
    assert.equal(modeOf(join(dataDir, 'logs', 'worker.log')).toString(8), '600');

    const old = join(tempDir(), 'worker.log');
    closeSync(openSync(old, 'w', 0o644));
    new RotatingLogFile({ path: old, maxBytes: 1024, files: 2 }).end();
    assert.equal(modeOf(old).toString(8), '600');
  });

  test('the default data folder beside the executable, left 0755 by an older version, is narrowed', async () => {
    const install = tempDir('hive-install-');
    mkdirSync(join(install, 'data'), { mode: 0o755 });
    const { resolveDataDir } = await import('../../src/platform/data-dir.ts');
    const chosen = resolveDataDir('', install, {});
    assert.equal(chosen.path, join(install, 'data'));
    assert.equal(modeOf(chosen.path).toString(8), '700');
    // A DATA_DIR the user made keeps its mode.
    const own = tempDir('hive-own-');
    const { chmodSync } = await import('node:fs');
    chmodSync(own, 0o750);
    resolveDataDir(own, install, {});
    assert.equal(modeOf(own).toString(8), '750');
  });

  test('a partial download is 0600', async () => {
    const dest = join(tempDir(), 'r.zip');
    await server.admin.faults([
      {
        route: 'releases',
        status: 200,
        body: payload.subarray(0, 1000).toString('latin1'),
        headers: { 'content-type': 'application/zip' },
      },
    ]);
    const dispatcher = new Agent();
    try {
      await assert.rejects(
        downloadRelease({
          url: new URL('releases/worker-9.9.9-linux-x64.zip', server.url),
          dest,
          sizeBytes: payload.length,
          sha256: '0'.repeat(64),
          headers: { 'x-hive-worker-id': 'test-00000000' },
          dispatcher,
          deadlineMs: 10_000,
          inactivityMs: 5_000,
        }),
        /ended at \d+ of \d+ bytes; will resume/,
      );
    } finally {
      await dispatcher.close();
    }
    assert.ok(existsSync(`${dest}.part`), 'the partial file is kept for resuming');
    assert.equal(modeOf(`${dest}.part`).toString(8), '600');
  });
});

describe('secrets in log lines', () => {
  test('scrubbed from child-logger bindings and deep fields, whatever their length', () => {
    const dir = tempDir();
    const file = join(dir, 'worker.log');
    const consoleFile = join(dir, 'console.txt');
    const consoleFd = openSync(consoleFile, 'w');
    const secrets = ['Zq7', 'tok-5ecret-9f8e7d6c', 'pa"ss\\word'];
    // The console is a file here: a stream writing through to it (src/platform/console.ts).
    const toFile = new Writable({
      write: (chunk, _encoding, done) => {
        writeSync(consoleFd, chunk);
        done();
      },
    });
    const out = openConsoleStream('stdout', () => toFile as unknown as NodeJS.WriteStream);
    const log = createLogger({ level: 'info', filePath: file, secrets, console: out });
    let deep: Record<string, unknown> = { leaf: `url https://u:${secrets[1]}@proxy` };
    for (let depth = 0; depth < 8; depth++) deep = { deeper: deep };
    const child = log.child({ taskId: `t-${secrets[0]}-1`, proxy: { password: secrets[2] } });
    child.info({ deep, [`key-${secrets[0]}`]: 1 }, `message with ${secrets[1]}`);
    child.child({ attempt: secrets[0] }).warn('grandchild logger');
    log.flush();
    closeSync(consoleFd);
    const text = readFileSync(file, 'utf8');
    const shown = readFileSync(consoleFile, 'utf8');
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `${secret} not in the log file:\n${text}`);
      assert.ok(!text.includes(JSON.stringify(secret).slice(1, -1)), `${secret}, escaped`);
      assert.ok(!shown.includes(secret), `${secret} not on the console:\n${shown}`);
    }
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    assert.equal(lines[0].taskId, 't-[redacted]-1');
    assert.equal(lines[0].msg, 'message with [redacted]');
    assert.equal(lines[0].level, 30, 'numbers are untouched');
    assert.match(JSON.stringify(lines[0].deep), /u:\[redacted\]@proxy/);
    assert.equal(lines[1].attempt, '[redacted]');
    assert.match(shown, /message with \[redacted\]/);
  });

  test('a secret added while running (a token read again after a 401) is scrubbed from then on', () => {
    const file = join(tempDir(), 'worker.log');
    const secrets = new Secrets(['token-one-1111']);
    const log = createLogger({
      level: 'info',
      filePath: file,
      secrets,
      console: openConsoleStream(
        'stdout',
        () =>
          new Writable({
            write: (_chunk, _encoding, done) => done(),
          }) as unknown as NodeJS.WriteStream,
      ),
    });
    const child = log.child({ taskId: 'rot-1' });
    child.info('before: token-one-1111 token-two-2222');
    secrets.add('token-two-2222');
    child.info('after: token-one-1111 token-two-2222');
    log.flush();
    const [before, after] = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    assert.equal(before, 'before: [redacted] token-two-2222', 'not yet a secret');
    assert.equal(after, 'after: [redacted] [redacted]');
  });
});
