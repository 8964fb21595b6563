/**
 * A new result is sent while its outbox copy is written (ResultDelivery.submit),
 * against the real reference server and real files: whichever of the two finishes first, a result
 * is removed only once the server has it and its write is over, a failed send leaves a whole file
 * that the next start re-sends, and a failed write matters only while the result is unsent.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  open,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SourceChangedError } from '../../src/platform/fs-atomic.ts';
import { createLogger } from '../../src/platform/log.ts';
import type { ResultLedger } from '../../src/results/ledger.ts';
import type { HiveClient } from '../../src/wire/hive-client.ts';
import { encodeResultBody } from '../../src/wire/protocol.ts';
import { startDelivery } from '../helpers/delivery.ts';
import { capturingLog } from '../helpers/log.ts';
import { encoded, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

let server: TestServer;
const clients: HiveClient[] = [];
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await server.close();
});

const silent = createLogger({ level: 'silent', secrets: [] });

/** A worker's outbox and delivery on `dataDir`, as a start of the worker builds them. */
function start(dataDir: string, log = silent) {
  const { ledger, delivery, client } = startDelivery({ serverUrl: server.url, dataDir, log });
  clients.push(client);
  return { outbox: ledger, delivery };
}

async function storedResult(resultId: string) {
  return (await server.admin.results()).results.find((result) => result.resultId === resultId);
}

/** What is in outbox/ (file names), temp files included. */
const outboxFiles = (dataDir: string) => readdirSync(join(dataDir, 'outbox')).sort();

/**
 * Holds every thread of libuv's pool in an open() of a FIFO that no one writes yet, so file
 * system calls queue behind them while the network goes on (the server URL is an IP address: no
 * DNS lookup on the pool). `release()` opens the writing ends and waits for the threads to free.
 */
function holdThreadpool() {
  const dir = tempDir('hive-fifo-');
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: size }, (_, i) => join(dir, `fifo-${i}`));
  const opened = fifos.map((fifo) => {
    execFileSync('mkfifo', [fifo]);
    return new Promise<number>((resolve, reject) =>
      open(fifo, 'r', (error, fd) => (error === null ? resolve(fd) : reject(error))),
    );
  });
  return {
    async release(): Promise<void> {
      const waiting = new Set(fifos);
      while (waiting.size > 0) {
        for (const fifo of waiting) {
          try {
            // Non-blocking: fails (ENXIO) while the reading open has not reached a thread yet.
            closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
            waiting.delete(fifo);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (const fd of await Promise.all(opened)) closeSync(fd);
    },
  };
}

/** Makes every outbox write fail from now on (ENOTDIR), as a full disk or lost permissions would. */
function breakOutboxFolder(dataDir: string): void {
  rmSync(join(dataDir, 'outbox'), { recursive: true, force: true });
  writeFileSync(join(dataDir, 'outbox'), 'not a folder');
}

describe('a result is sent while its outbox copy is written', () => {
  test('accepted before its write finished: not left in outbox/, never sent again', {
    skip: process.platform === 'win32' && 'mkfifo',
  }, async () => {
    await server.admin.enqueue({ id: 'accepted-first', type: 'echo', payload: 1 });
    const dataDir = tempDir();
    const { outbox, delivery } = start(dataDir);
    const body = encoded(resultBody());
    const pool = holdThreadpool();
    let writeOver = false;
    const { durable, delivered: outcome } = delivery.submit('accepted-first', body);
    void durable.then(() => {
      writeOver = true;
    });
    try {
      await server.admin.waitFor(() => storedResult(body.resultId));
      assert.equal(writeOver, false, 'the server took it while its write was still queued');
      await server.admin.waitFor(() => outbox.size === 0); // answered: the pump leaves it alone
      // A small file's writes are made on the loop's thread; its open, fsync and rename wait.
      const results = outboxFiles(dataDir).filter((name) => !name.endsWith('.tmp'));
      assert.deepEqual(results, [], 'no result file yet: its temp file waits for its fsync');
    } finally {
      await pool.release();
    }
    assert.equal(await outcome, 'delivered');
    assert.equal(writeOver, true, 'the delivery settles once the write is over');
    assert.deepEqual(outboxFiles(dataDir), [], 'its file came and went: no late rename left it');

    const next = start(dataDir);
    assert.deepEqual(next.outbox.pending(), [], 'nothing to send at the next start');
    await next.delivery.sendQueued('before claiming');
    const stored = await storedResult(body.resultId);
    assert.equal(stored?.duplicates, 0, 'never sent again');
    assert.equal((await server.admin.task('accepted-first')).results.length, 1);
  });

  test('a send that fails leaves a whole file, re-sent at the next start with the same resultId', async () => {
    await server.admin.enqueue({ id: 'sent-later', type: 'echo', payload: 2 });
    await server.admin.faults([{ route: 'result', status: 503, body: 'down for a moment' }]);
    const dataDir = tempDir();
    const { outbox, delivery } = start(dataDir);
    const body = encoded(resultBody());
    const { delivered } = delivery.submit('sent-later', body);
    const [entry] = outbox.pending();
    assert.ok(entry !== undefined);
    assert.equal(await delivered, 'retry');
    assert.deepEqual(outboxFiles(dataDir), [`${body.resultId}.json`], 'whole, no temp file');
    const onDisk = readFileSync(join(dataDir, 'outbox', `${body.resultId}.json`), 'utf8');
    const { taskId, storedAt } = entry;
    assert.equal(
      onDisk,
      `${JSON.stringify({ taskId, storedAt }).slice(0, -1)},"body":${body.json}}`,
    );
    assert.equal(await storedResult(body.resultId), undefined);

    // The worker stops (its pump never ran); the next start sends it before claiming.
    const next = start(dataDir);
    assert.deepEqual(next.outbox.pending(), [entry]);
    await next.delivery.sendQueued('before claiming');
    const stored = await storedResult(body.resultId);
    assert.equal(stored?.taskId, 'sent-later');
    assert.deepEqual(stored?.body, JSON.parse(body.json), 'the same body and resultId');
    assert.deepEqual(outboxFiles(dataDir), []);
  });

  test('a write that fails after the server took the result: a warning, and nothing else', async () => {
    await server.admin.enqueue({ id: 'write-fails', type: 'echo', payload: 3 });
    const dataDir = tempDir();
    const { log, lines } = capturingLog();
    const { outbox, delivery } = start(dataDir, log);
    breakOutboxFolder(dataDir);
    const body = encoded(resultBody());
    assert.equal(await delivery.submit('write-fails', body).delivered, 'delivered');
    assert.ok(await storedResult(body.resultId));
    assert.equal(outbox.size, 0);
    const warning = lines.find((line) => line.level === 40);
    assert.match(
      warning?.msg ?? '',
      /^the outbox copy of task write-fails's result could not be written \(ENOTDIR.*\); not needed: the server has answered it \(delivered\)$/,
    );
    assert.equal(warning?.resultId, body.resultId);
  });

  test('a write that fails while the result is unsent: the write error is thrown, as before', async () => {
    await server.admin.enqueue({ id: 'write-and-send-fail', type: 'echo', payload: 4 });
    await server.admin.faults([{ route: 'result', status: 500, body: 'oops' }]);
    const dataDir = tempDir();
    const { delivery } = start(dataDir);
    breakOutboxFolder(dataDir);
    const { delivered } = delivery.submit('write-and-send-fail', encoded(resultBody()));
    await assert.rejects(delivered, { code: 'ENOTDIR' });
  });

  test('the worker: a result the server took but that could not be written is logged, and it goes on', async () => {
    const worker = startWorker({ serverUrl: server.url });
    try {
      await server.admin.enqueue({ id: 'unwritable-1', type: 'sleep', payload: { ms: 800 } });
      await worker.waitForOutput(/claimed task unwritable-1/);
      breakOutboxFolder(worker.dataDir);
      await worker.waitForOutput(
        /outbox copy of task unwritable-1's result could not be written \(ENOTDIR/,
      );
      assert.ok((await server.admin.task('unwritable-1')).resultId);
      await server.admin.enqueue({ id: 'unwritable-2', type: 'echo', payload: 5 });
      await worker.waitForOutput(/outbox copy of task unwritable-2's result could not be written/);
      assert.ok((await server.admin.task('unwritable-2')).resultId, 'the next task ran too');
      assert.equal(worker.child.exitCode, null, 'still running');
    } finally {
      assert.equal((await worker.stop()).code, 0, worker.output());
    }
  });
});

describe('a spooled output its task process changed before it was copied', () => {
  /** A result whose output is a spool file said to hold 200 KiB of JSON, which `spoil` changes. */
  function spooledResult(outbox: ResultLedger, spoil: (file: string) => void) {
    const file = join(outbox.outbox.spoolDir, 'changed.json');
    writeFileSync(file, `"${'x'.repeat(200 * 1024 - 2)}"`);
    const { output: _, ...fields } = resultBody();
    const body = encodeResultBody(fields, { file, bytes: 200 * 1024 });
    spoil(file);
    return body;
  }
  const failedInstead = (detail: string) =>
    encoded(
      resultBody({
        status: 'failed',
        output: null,
        error: { code: 'TASK_ERROR', message: `changed: ${detail}` },
      }),
    );

  for (const [what, spoil, said] of [
    ['cut short', (file: string) => truncateSync(file, 1000), /it ends after \d+ of 204800 bytes/],
    ['gone', (file: string) => rmSync(file), /it is gone/],
  ] as const) {
    test(`${what}: reported as failed in its place, the worker goes on, nothing left behind`, async () => {
      const id = `spool-${what.replace(' ', '-')}`;
      await server.admin.enqueue({ id, type: 'echo', payload: 1 });
      const dataDir = tempDir();
      const { log, lines } = capturingLog();
      const { outbox, delivery } = start(dataDir, log);
      const body = spooledResult(outbox, spoil);
      const { durable, delivered } = delivery.submit(id, body, undefined, {
        ifOutputChanged: failedInstead,
      });
      await durable;
      assert.equal(await delivered, 'delivered');
      const stored = (await server.admin.task(id)).results;
      assert.equal(stored.length, 1, 'one result: the failed one');
      assert.equal(stored[0]?.body.status, 'failed');
      assert.equal(stored[0]?.body.error?.code, 'TASK_ERROR');
      assert.match(stored[0]?.body.error?.message ?? '', said);
      assert.doesNotMatch(stored[0]?.body.error?.message ?? '', /spool|\//, 'no local path sent');
      assert.ok(
        lines.some((line) => line.level === 40 && /changed while it was read/.test(line.msg)),
      );
      await server.admin.waitFor(() => outbox.size === 0);
      assert.deepEqual(outboxFiles(dataDir), [], 'no temp file, no file of the lost result');
      assert.deepEqual(readdirSync(outbox.outbox.spoolDir), []);
    });
  }

  test('without a stand-in (the old contract): the write fails as SourceChangedError, its temp file removed', async () => {
    const dataDir = tempDir();
    const { outbox, delivery } = start(dataDir);
    const body = spooledResult(outbox, (file) => truncateSync(file, 10));
    const { durable, delivered } = delivery.submit('spool-no-stand-in', body);
    await durable;
    await assert.rejects(delivered, SourceChangedError);
    assert.deepEqual(outboxFiles(dataDir), []);
  });
});
