/**
 * A worker without a usable console keeps working and logs to its file (src/platform/console.ts).
 * Under Wine a pipe makes Node's `process.stdout` getter throw `open EBADF` (test/windows covers
 * that for real); here: the same failure through a stand-in getter (and a whole worker whose
 * getters throw, test/fixtures/no-console-entry.ts), a write that throws, a pipe whose reader has
 * gone (EPIPE), and a worker started with stdout and stderr closed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { openConsoleStream } from '../../src/platform/console.ts';
import { createLogger } from '../../src/platform/log.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, readLogLines, tempDir } from '../helpers/worker.ts';

const LOST = /the console is unusable/;

function fileLines(path: string): Array<{ msg: string; level: number }> {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
}

describe('console stream', () => {
  test('a getter that throws (Wine: open EBADF): writes are dropped, never thrown', () => {
    const out = openConsoleStream('stdout', () => {
      throw Object.assign(new Error('open EBADF'), { code: 'EBADF' });
    });
    assert.equal(out.write('hello\n'), false);
    assert.equal(out.isTTY, false);
    assert.equal(out.stream, undefined);
    assert.equal(out.lostReason, 'stdout: EBADF');
  });

  test('a write that throws gives the console up; later writes are not tried', () => {
    let tries = 0;
    const broken = new Writable({ write: (_chunk, _encoding, done) => done() });
    broken.write = () => {
      tries++;
      throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    };
    const out = openConsoleStream('stderr', () => broken as unknown as NodeJS.WriteStream);
    assert.equal(out.lostReason, undefined);
    assert.equal(out.write('one\n'), false);
    assert.equal(out.write('two\n'), false);
    assert.equal(tries, 1);
    assert.equal(out.lostReason, 'stderr: EPIPE');
  });

  test('an error event (EPIPE after the write returned) gives the console up, and is not fatal', () => {
    const stream = new Writable({ write: (_chunk, _encoding, done) => done() });
    const out = openConsoleStream('stdout', () => stream as unknown as NodeJS.WriteStream);
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    assert.equal(out.write('after\n'), false);
    assert.equal(out.lostReason, 'stdout: EPIPE');
  });
});

describe('logger without a console', () => {
  test('lost from the start: every line reaches the file, and the loss is said once', () => {
    const file = join(tempDir('hive-console-'), 'worker.log');
    const out = openConsoleStream('stdout', () => {
      throw Object.assign(new Error('open EBADF'), { code: 'EBADF' });
    });
    const log = createLogger({ level: 'info', filePath: file, secrets: [], console: out });
    log.info('first');
    log.info('second');
    const lines = fileLines(file);
    assert.deepEqual(
      lines.map((line) => line.msg.replace(/\(.*\)/, '(…)').replace(file, 'FILE')),
      ['the console is unusable (…): the log goes to FILE only', 'first', 'second'],
    );
    assert.match(lines[0]?.msg ?? '', /stdout: EBADF/);
  });

  test('lost at a later write: said once, on the next tick; earlier and later lines kept', async () => {
    const file = join(tempDir('hive-console-'), 'worker.log');
    let isBroken = false;
    const printed: string[] = [];
    const stream = new Writable({ write: (_chunk, _encoding, done) => done() });
    stream.write = (chunk: unknown) => {
      if (isBroken) throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      printed.push(String(chunk));
      return true;
    };
    const out = openConsoleStream('stdout', () => stream as unknown as NodeJS.WriteStream);
    const log = createLogger({ level: 'info', filePath: file, secrets: [], console: out });
    log.info('while it works');
    isBroken = true;
    log.info('the write that fails');
    log.info('after it');
    await new Promise((resolve) => setImmediate(resolve));
    log.info('later still');
    assert.equal(printed.length, 1);
    assert.match(printed[0] ?? '', /while it works/);
    const messages = fileLines(file).map((line) => line.msg);
    assert.equal(messages.filter((msg) => LOST.test(msg)).length, 1, messages.join('\n'));
    for (const msg of ['while it works', 'the write that fails', 'after it', 'later still']) {
      assert.ok(messages.includes(msg), `${msg} is in the file: ${messages.join('\n')}`);
    }
  });
});

describe('a worker without a usable console (from source, real server)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  /** The worker through `sh -c`, so the test can shape fds 1 and 2 before Node starts. */
  function startShaped(shape: string, dataDir: string, entry = FIXTURE_ENTRY) {
    const child = spawn('sh', ['-c', `exec "$0" "$1" ${shape}`, process.execPath, entry], {
      env: {
        ...process.env,
        ...FAST_SETTINGS,
        HIVE_SERVER_URL: server.url,
        HIVE_DATA_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    return { child, exited };
  }

  test('stdout and stderr a pipe nobody reads any more (EPIPE): tasks done, log in the file, said once', async () => {
    const dataDir = tempDir('hive-console-');
    const run = startShaped('', dataDir);
    // The reader goes away at once: every write the worker makes to its console fails.
    run.child.stdout?.destroy();
    run.child.stderr?.destroy();
    await server.admin.enqueue({ id: 'epipe-echo', type: 'echo', payload: { n: 1 } });
    await server.admin.enqueue({ id: 'epipe-logs', type: 'logs', payload: { lines: 2 } });
    const results = await waitForResults(server.admin, 'epipe-', 2, 60_000);
    assert.deepEqual(results.map((result) => result.body.status).sort(), [
      'succeeded',
      'succeeded',
    ]);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0);
    const messages = readLogLines(dataDir).map((line) => line.msg);
    assert.equal(messages.filter((msg) => LOST.test(msg)).length, 1, messages.join('\n'));
    assert.match(messages.find((msg) => LOST.test(msg)) ?? '', /stdout: EPIPE/);
    assert.ok(
      messages.some((msg) => /^hive-worker /.test(msg)),
      'the banner is in the file',
    );
    assert.ok(
      messages.some((msg) => /stopped \(0 result/.test(msg)),
      'the drain is in the file',
    );
  });

  test('stdout and stderr closed at start: the worker runs and logs to its file', async () => {
    const dataDir = tempDir('hive-console-');
    // Node gives closed fds 0–2 /dev/null before anything runs, so nothing is lost here: the
    // point is that such a start (a service wrapper, a detached launcher) works at all.
    const run = startShaped('>&- 2>&-', dataDir);
    await server.admin.enqueue({ id: 'closed-echo', type: 'echo', payload: { n: 2 } });
    const [result] = await waitForResults(server.admin, 'closed-', 1, 60_000);
    assert.equal(result?.body.status, 'succeeded');
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0);
    const messages = readLogLines(dataDir).map((line) => line.msg);
    assert.ok(
      messages.some((msg) => /^hive-worker /.test(msg)),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((msg) => /stopped \(0 result/.test(msg)),
      messages.join('\n'),
    );
  });

  test('process.stdout and process.stderr getters that throw (Wine with pipes): tasks done, said once', async () => {
    const dataDir = tempDir('hive-console-');
    const entry = join(dirname(FIXTURE_ENTRY), 'no-console-entry.ts');
    const run = startShaped('', dataDir, entry);
    let printed = '';
    run.child.stdout?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    run.child.stderr?.on('data', (chunk: Buffer) => {
      printed += chunk.toString();
    });
    await server.admin.enqueue({ id: 'getter-logs', type: 'logs', payload: { lines: 2 } });
    await server.admin.enqueue({ id: 'getter-throws', type: 'throws', payload: { message: 'x' } });
    const results = await waitForResults(server.admin, 'getter-', 2, 60_000);
    assert.deepEqual(results.map((result) => result.body.status).sort(), ['failed', 'succeeded']);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 0, printed);
    assert.equal(printed, '', 'nothing reached the console');
    const messages = readLogLines(dataDir).map((line) => line.msg);
    const lost = messages.filter((msg) => LOST.test(msg));
    assert.equal(lost.length, 1, messages.join('\n'));
    assert.match(lost[0] ?? '', /stdout: EBADF/);
    assert.ok(
      messages.some((msg) => /stopped \(0 result/.test(msg)),
      messages.join('\n'),
    );
  });
});
