/**
 * The one owner of a result's life (src/results/ledger.ts), in process on a real outbox folder:
 * each state it goes through, what counts as unsent (OUTBOX_MAX), what a re-delivered task finds,
 * and where its file is at each step.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import { ResultLedger } from '../../src/results/ledger.ts';
import { Outbox } from '../../src/results/outbox.ts';
import { encodeResultBody } from '../../src/wire/protocol.ts';
import { encoded } from '../helpers/server.ts';
import { tempDir } from '../helpers/worker.ts';

const log = createLogger({ level: 'silent', secrets: [] });

function body(resultId: string) {
  const at = new Date().toISOString();
  return encoded({
    workerId: 'w',
    resultId,
    workerVersion: '1.0.0',
    status: 'succeeded',
    output: 1,
    error: null,
    attempt: 1,
    startedAt: at,
    finishedAt: at,
  });
}

function open(maxEntries = 10) {
  const dataDir = tempDir();
  const ledger = new ResultLedger(new Outbox({ dataDir, retentionMs: 3_600_000, log }), maxEntries);
  return { dataDir, ledger: ledger.open() };
}

const R1 = 'aaaaaaaa-0000-0000-0000-000000000001';
const R2 = 'aaaaaaaa-0000-0000-0000-000000000002';

describe('the result ledger', () => {
  test('a body in memory: pending at once, sending, kept, sending, answered — then gone, file and all', async () => {
    const { dataDir, ledger } = open();
    const life = ledger.add('t-1', body(R1));
    const steps = [life.state];
    assert.equal(ledger.size, 1);
    assert.equal(ledger.unwritten, 1, 'its write is under way');
    await life.written;
    assert.equal(ledger.unwritten, 0);
    ledger.sending(R1);
    steps.push(life.state);
    ledger.kept(R1);
    steps.push(life.state);
    assert.equal(ledger.size, 1, 'kept: still unsent');
    ledger.sending(R1);
    steps.push(life.state);
    await ledger.answered(R1);
    steps.push(life.state);
    assert.deepEqual(steps, ['pending', 'sending', 'kept', 'sending', 'answered']);
    assert.equal(ledger.size, 0);
    assert.equal(ledger.get(R1), undefined);
    assert.deepEqual(readdirSync(join(dataDir, 'outbox')), []);
    assert.equal(ledger.storedResult('t-1')?.body.resultId, R1, 'done/ answers a re-delivery');
  });

  test('a spooled body: written until its file is composed, then pending; sent from the file', async () => {
    const { ledger } = open();
    const spooled = join(ledger.outbox.spoolDir, 'out.json');
    writeFileSync(spooled, '"big"');
    const { output: _, ...fields } = JSON.parse(body(R1).json);
    const life = ledger.add('t-2', encodeResultBody(fields, { file: spooled, bytes: 5 }));
    assert.equal(life.state, 'written');
    assert.equal(ledger.size, 0, 'not sendable yet');
    assert.equal(await life.written, true);
    assert.equal(life.state, 'pending');
    assert.ok('file' in life.entry.body, 'read from its outbox file');
    assert.equal(existsSync(spooled), false, 'the spooled output is removed once copied');
  });

  test('refused: kept in rejected/ with the answer, out of the outbox', async () => {
    const { dataDir, ledger } = open();
    const life = ledger.add('t-3', body(R1));
    await life.written;
    ledger.sending(R1);
    const file = await ledger.refused(R1, { status: 422, text: 'no' });
    assert.equal(life.state, 'refused');
    assert.ok(existsSync(file));
    assert.deepEqual(readdirSync(join(dataDir, 'outbox')), []);
    assert.equal(ledger.requeueRejected().requeued, 1);
    assert.deepEqual(
      ledger.pending().map((entry) => entry.body.resultId),
      [R1],
    );
  });

  test('re-delivered while its answer empties the outbox: taken again from done/ once that is over', async () => {
    const { dataDir, ledger } = open();
    const life = ledger.add('t-re', body(R1));
    await life.written;
    ledger.sending(R1);
    const answered = ledger.answered(R1);
    // The re-delivery comes as the answered result's outbox file is being removed.
    const again = await ledger.requeue(life.entry);
    await answered;
    assert.notEqual(again, life.entry, 'not the entry whose file went');
    assert.equal(again.body.resultId, R1, 'the same resultId');
    assert.equal(ledger.get(R1)?.state, 'pending', 'on its way again');
    assert.ok(existsSync(join(dataDir, 'outbox', `${R1}.json`)), 'its outbox file is back');
  });

  test('OUTBOX_MAX counts unsent results; a change out of turn does nothing; a reopen finds what was unsent', async () => {
    const { dataDir, ledger } = open(2);
    const a = ledger.add('t-a', body(R1));
    assert.equal(ledger.isFull(), false);
    const b = ledger.add('t-b', body(R2));
    assert.equal(ledger.isFull(), true);
    await Promise.all([a.written, b.written]);
    ledger.kept(R1); // not sending: nothing to keep, no change
    assert.equal(a.state, 'pending');
    assert.equal(await ledger.requeue(a.entry), a.entry, 'one still here is returned as it is');
    const reopened = new ResultLedger(
      new Outbox({ dataDir, retentionMs: 3_600_000, log }),
      2,
    ).open();
    assert.deepEqual(
      reopened.pending().map((entry) => entry.body.resultId),
      [R1, R2],
    );
    assert.equal(reopened.get(R1)?.state, 'pending');
  });
});
