/**
 * The one owner of a result's life (src/results/ledger.ts), in process on a real outbox folder:
 * each state it goes through, what counts as unsent (OUTBOX_MAX), what a re-delivered task finds,
 * and where its file is at each step.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import { ANSWERS_SEEN, ResultLedger } from '../../src/results/ledger.ts';
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

  describe('no outbox file for a result the server has first', () => {
    /** A ledger on a real outbox whose fsyncs are counted; `answerWaitMs` as the test needs. */
    function counted(answerWaitMs: number) {
      const dataDir = tempDir();
      const made: string[] = [];
      const outbox = new Outbox({
        dataDir,
        retentionMs: 3_600_000,
        log,
        fsynced: (what) => made.push(what),
      });
      const ledger = new ResultLedger(outbox, 100, { answerWaitMs }).open();
      return { dataDir, made, ledger };
    }
    let next = 0;
    const newId = () => `bbbbbbbb-0000-0000-0000-${String(++next).padStart(12, '0')}`;
    /** Added, sent and answered at once (in well under any wait). */
    async function answeredAtOnce(ledger: ResultLedger) {
      const id = newId();
      const life = ledger.add(`t-${id}`, body(id));
      ledger.sending(id);
      await ledger.answered(id);
      return life;
    }
    /** ANSWERS_SEEN quick answers: the server counts as quick. Their fsyncs are forgotten. */
    async function quick(ledger: ResultLedger, made: string[]) {
      for (let i = 0; i < ANSWERS_SEEN; i++) await answeredAtOnce(ledger);
      made.length = 0;
    }
    /** The outbox/ folder's entries, watched while a write goes on (fs.watch: every rename). */
    function watchOutbox(dataDir: string) {
      const seen = new Set<string>();
      const watcher = watch(join(dataDir, 'outbox'), (_event, name) => {
        if (name !== null) seen.add(name);
      });
      return { seen, close: () => watcher.close() };
    }

    test('the server not known to answer quickly: the outbox file is written and fsynced at once', async () => {
      const { dataDir, made, ledger } = counted(60_000);
      const first = await answeredAtOnce(ledger);
      assert.equal(await first.written, true);
      assert.deepEqual(made, ['file', 'folder'], 'no answers seen yet: no wait, as always');
      assert.deepEqual(
        readdirSync(join(dataDir, 'outbox')),
        [],
        'answered: its file went to done/',
      );
      const id = newId();
      const life = ledger.add(`t-${id}`, body(id));
      assert.equal(await life.written, true, 'over without waiting for an answer (60 s)');
      assert.deepEqual(made, ['file', 'folder', 'file', 'folder']);
      assert.deepEqual(readdirSync(join(dataDir, 'outbox')), [`${id}.json`]);
    });

    test('answered within the wait: no outbox file, no fsync; done/ has it for a re-delivery', async () => {
      const { dataDir, made, ledger } = counted(400);
      await quick(ledger, made);
      const outboxSeen = watchOutbox(dataDir);
      const id = newId();
      const life = ledger.add(`t-${id}`, body(id));
      ledger.sending(id);
      let over = false;
      void life.written.then(() => {
        over = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(over, false, 'the write waits for the answer');
      await ledger.answered(id);
      assert.equal(await life.written, true);
      await new Promise((resolve) => setTimeout(resolve, 50)); // fs.watch's events, if any
      outboxSeen.close();
      assert.deepEqual(made, []);
      assert.deepEqual([...outboxSeen.seen], [], 'nothing was ever written in outbox/');
      assert.equal(ledger.storedResult(`t-${id}`)?.body.resultId, id);
      assert.equal(ledger.get(id), undefined, 'gone from the ledger');
    });

    test('no answer within the wait: written and fsynced then; the waiting stops until answers are quick again', async () => {
      const { dataDir, made, ledger } = counted(400);
      await quick(ledger, made);
      const late = newId();
      const started = performance.now();
      const unanswered = ledger.add(`t-${late}`, body(late));
      assert.equal(await unanswered.written, true);
      assert.ok(performance.now() - started >= 390, 'the write waited out the 400 ms');
      assert.deepEqual(made, ['file', 'folder']);
      assert.equal(ledger.get(late)?.state, 'pending');
      assert.deepEqual(readdirSync(join(dataDir, 'outbox')), [`${late}.json`]);
      // No answer in time counts as a slow one: nobody waits now.
      const id = newId();
      const life = ledger.add(`t-${id}`, body(id));
      const before = performance.now();
      assert.equal(await life.written, true);
      assert.ok(performance.now() - before < 390, 'fsynced without waiting');
      assert.deepEqual(made, ['file', 'folder', 'file', 'folder']);
      // The late one's answer: its outbox file goes to done/ as always.
      ledger.sending(late);
      await ledger.answered(late);
      assert.deepEqual(readdirSync(join(dataDir, 'outbox')), [`${id}.json`]);
      assert.equal(ledger.storedResult(`t-${late}`)?.body.resultId, late);
      // Quick answers again, ANSWERS_SEEN of them: the writes wait again.
      await quick(ledger, made);
      const again = newId();
      const waitedAgain = ledger.add(`t-${again}`, body(again));
      ledger.sending(again);
      setTimeout(() => void ledger.answered(again), 20);
      assert.equal(await waitedAgain.written, true);
      assert.deepEqual(made, [], 'answered within the wait: no fsync');
    });

    test('a refusal or a "keep it" ends the wait: the outbox file is written and fsynced', async () => {
      const { dataDir, made, ledger } = counted(60_000);
      await quick(ledger, made);
      const kept = newId();
      const life = ledger.add(`t-${kept}`, body(kept));
      ledger.sending(kept);
      setTimeout(() => ledger.kept(kept), 20);
      assert.equal(await life.written, true, 'over at the answer, not after 60 s');
      assert.deepEqual(made, ['file', 'folder']);
      assert.deepEqual(readdirSync(join(dataDir, 'outbox')), [`${kept}.json`]);
      const refused = newId();
      const other = ledger.add(`t-${refused}`, body(refused));
      ledger.sending(refused);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const keptIn = await ledger.refused(refused, { status: 422, text: 'no' });
      assert.equal(await other.written, true);
      assert.deepEqual(made, ['file', 'folder', 'file', 'folder']);
      assert.ok(keptIn.endsWith(`${refused}.json`));
      assert.ok(existsSync(keptIn), 'kept in rejected/');
    });
  });
});
