import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import { taskKey } from '../../src/results/entry-file.ts';
import { ResultLedger } from '../../src/results/ledger.ts';
import { Outbox, type OutboxOptions } from '../../src/results/outbox.ts';
import { type EncodedResult, encodeResultBody, type ResultBody } from '../../src/wire/protocol.ts';
import { encoded } from '../helpers/server.ts';
import { tempDir } from '../helpers/worker.ts';

const textOf = (result: EncodedResult) => ('json' in result ? result.json : undefined);

const log = createLogger({ level: 'silent', secrets: [] });
const HOUR = 3_600_000;

/** The storage and the ledger that owns each result's state, as a worker's start opens them. */
function openLedger({ maxEntries, ...options }: OutboxOptions & { maxEntries: number }) {
  return new ResultLedger(new Outbox(options), maxEntries).open();
}

function body(resultId: string) {
  const at = new Date().toISOString();
  return encoded({
    workerId: 'host-00000000',
    resultId,
    workerVersion: '1.0.0',
    status: 'succeeded',
    output: { n: 1 },
    error: null,
    attempt: 1,
    startedAt: at,
    finishedAt: at,
  });
}

describe('outbox', () => {
  test('a result is whole on disk once written, and survives a reopen byte for byte', async () => {
    const dataDir = tempDir();
    const outbox = openLedger({ dataDir, maxEntries: 10, retentionMs: 24 * HOUR, log });
    const { entry, written } = outbox.add(
      'task/with:odd chars',
      body('11111111-2222-3333-4444-555555555555'),
    );
    assert.equal(outbox.size, 1, 'pending at once, while it is written');
    assert.deepEqual(readdirSync(join(dataDir, 'done')), [], 'done/ is written by delivery, later');
    await written;
    assert.deepEqual(readdirSync(join(dataDir, 'outbox')), [
      '11111111-2222-3333-4444-555555555555.json',
    ]);
    await outbox.outbox.keepDone(entry);
    assert.equal(readdirSync(join(dataDir, 'done')).length, 1);
    const reopened = openLedger({ dataDir, maxEntries: 10, retentionMs: 24 * HOUR, log });
    assert.deepEqual(reopened.pending(), outbox.pending());
    assert.equal(
      reopened.storedResult('task/with:odd chars')?.body.resultId,
      '11111111-2222-3333-4444-555555555555',
    );
    await reopened.answered('11111111-2222-3333-4444-555555555555');
    assert.equal(reopened.size, 0);
    assert.deepEqual(readdirSync(join(dataDir, 'outbox')), []);
    assert.ok(reopened.storedResult('task/with:odd chars'), 'still known once delivered');
  });

  test('once-per-task entries expire after the retention and are pruned', async () => {
    const dataDir = tempDir();
    let now = Date.now();
    const outbox = openLedger({
      dataDir,
      maxEntries: 10,
      retentionMs: 24 * HOUR,
      log,
      now: () => now,
    });
    const kept = outbox.add('old-task', body('aaaaaaaa-0000-0000-0000-000000000000'));
    await kept.written;
    await outbox.outbox.keepDone(kept.entry);
    await outbox.answered('aaaaaaaa-0000-0000-0000-000000000000');
    assert.ok(outbox.storedResult('old-task'), 'known, within the retention');
    now += 25 * HOUR;
    assert.equal(outbox.storedResult('old-task'), undefined, 'expired: the task would run again');
    const [file] = readdirSync(join(dataDir, 'done'));
    assert.ok(file !== undefined);
    const past = new Date(Date.now() - 25 * HOUR);
    utimesSync(join(dataDir, 'done', file), past, past);
    assert.equal(outbox.outbox.pruneDone(), 1);
    assert.deepEqual(readdirSync(join(dataDir, 'done')), []);
  });

  test('the cap: full at OUTBOX_MAX unsent results', async () => {
    const outbox = openLedger({ dataDir: tempDir(), maxEntries: 2, retentionMs: HOUR, log });
    const a = outbox.add('a', body('aaaaaaaa-0000-0000-0000-000000000001'));
    assert.equal(outbox.isFull(), false);
    const b = outbox.add('b', body('aaaaaaaa-0000-0000-0000-000000000002'));
    assert.equal(outbox.isFull(), true);
    await Promise.all([a.written, b.written]);
  });

  test('a body encoded once is the text JSON.stringify gives for the whole body', () => {
    const at = '2026-12-05T00:00:00.000Z';
    const whole: ResultBody = {
      workerId: 'w-1',
      resultId: 'r-1',
      workerVersion: '1.0.0',
      status: 'failed',
      output: { s: 'é 𝄞 "q" \\ \n \ud800', n: [1e21, -0, 0.1] },
      error: { code: 'TASK_ERROR', message: 'boom', details: { why: 1 } },
      attempt: 2,
      startedAt: at,
      finishedAt: at,
      logs: [{ at, level: 'info', msg: 'hi' }],
      logsTruncated: true,
    };
    const { output, ...fields } = whole;
    assert.equal(textOf(encodeResultBody(fields, JSON.stringify(output))), JSON.stringify(whole));
    // Without logs: the optional fields are left out, as JSON.stringify leaves out undefined ones.
    const { logs: _logs, logsTruncated: _cut, ...bare } = whole;
    assert.equal(textOf(encodeResultBody(bare, JSON.stringify(output))), JSON.stringify(bare));
  });

  test('an outbox file from before (its body not last) is read, and sent as the same text', () => {
    const dataDir = tempDir();
    const older = {
      taskId: 't-old',
      body: JSON.parse(body('bbbbbbbb-0000-0000-0000-000000000000').json),
      storedAt: new Date().toISOString(),
    };
    mkdirSync(join(dataDir, 'outbox'), { recursive: true });
    writeFileSync(join(dataDir, 'outbox', `${older.body.resultId}.json`), JSON.stringify(older));
    const outbox = openLedger({ dataDir, maxEntries: 10, retentionMs: HOUR, log });
    const [entry] = outbox.pending();
    assert.equal(entry?.taskId, 't-old');
    assert.ok(entry !== undefined && 'json' in entry.body);
    assert.equal(entry.body.json, JSON.stringify(older.body), 'the text it was written from');
    assert.equal(entry?.body.resultId, older.body.resultId);
    assert.deepEqual(readdirSync(join(dataDir, 'corrupt')), []);
  });

  test('a file a power cut left empty (0 bytes, or NUL bytes) is removed with a warning, not moved aside', () => {
    const dataDir = tempDir();
    for (const dir of ['outbox', 'done']) mkdirSync(join(dataDir, dir), { recursive: true });
    const empty = 'cccccccc-0000-0000-0000-000000000001.json';
    writeFileSync(join(dataDir, 'outbox', empty), '');
    writeFileSync(join(dataDir, 'outbox', 'torn.json'), '{"taskId":"x","body":{"workerId":');
    const lines: string[] = [];
    const heard = createLogger({
      level: 'warn',
      secrets: [],
      console: {
        write: (line: string) => lines.push(line) > 0,
        isTTY: false,
        stream: undefined,
        lostReason: undefined,
      },
    });
    const ledger = openLedger({ dataDir, maxEntries: 10, retentionMs: HOUR, log: heard });
    assert.deepEqual(ledger.pending(), []);
    assert.deepEqual(readdirSync(join(dataDir, 'outbox')), []);
    assert.equal(readdirSync(join(dataDir, 'corrupt')).length, 1, 'the torn one, as before');
    // done/'s copy of a task, its bytes NUL (what some file systems leave): as if never done.
    const doneFile = join(dataDir, 'done', taskKey('t-zeros'));
    writeFileSync(doneFile, Buffer.alloc(300));
    assert.equal(ledger.storedResult('t-zeros'), undefined);
    assert.deepEqual(readdirSync(join(dataDir, 'done')), []);
    assert.equal(readdirSync(join(dataDir, 'corrupt')).length, 1);
    const removed = lines.filter((line) => /a power cut left it empty/.test(line));
    assert.equal(removed.length, 2, lines.join(''));
  });
});
