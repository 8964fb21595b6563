/**
 * The result pump's waits (src/results/delivery.ts), in-process: a real outbox folder, a fake
 * client answering each POST from a script. The pump backs off as the claim loop does
 * (ErrorBackoff, random() = 1: each delay is its ceiling); a Retry-After is the wait instead.
 * The waits are read from what the pump says it waits (its debug line), and the POSTs' clock
 * shows none came early; how late a timer fires on a busy machine is not the pump's to judge.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { HiveError } from '../../src/platform/errors.ts';
import { createLogger, type Logger } from '../../src/platform/log.ts';
import { ResultDelivery } from '../../src/results/delivery.ts';
import { ResultLedger } from '../../src/results/ledger.ts';
import { Outbox } from '../../src/results/outbox.ts';
import type { HiveClient } from '../../src/wire/hive-client.ts';
import type { ResultOutcome } from '../../src/wire/outcomes.ts';
import { encodeResultBody } from '../../src/wire/protocol.ts';

const BASE_MS = 100;
const CAP_MS = 400;

/** A silent logger that keeps the waits the pump announces (its debug line's `waitMs`). */
function waitRecorder(): { log: Logger; waits: number[] } {
  const waits: number[] = [];
  const log = createLogger({ level: 'silent', secrets: [] });
  log.debug = ((fields: unknown) => {
    const waitMs = (fields as { waitMs?: unknown } | null)?.waitMs;
    if (typeof waitMs === 'number') waits.push(waitMs);
  }) as Logger['debug'];
  return { log, waits };
}
const ok: ResultOutcome = { kind: 'accepted', status: 200, tasks: [] };
const busy = (status: number, retryAfterMs?: number): ResultOutcome => ({
  kind: 'retry',
  status,
  error: new HiveError('HTTP', `result failed: HTTP ${status}`),
  ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
});

/** A pump over a fresh outbox whose server answers `script` in turn; each POST's time is kept. */
function pump(t: TestContext, script: ResultOutcome[]) {
  t.mock.method(Math, 'random', () => 1);
  const { log, waits } = waitRecorder();
  const dataDir = mkdtempSync(join(tmpdir(), 'hive-pump-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const ledger = new ResultLedger(new Outbox({ dataDir, retentionMs: 3_600_000, log }), 10).open();
  const posts: { at: number; resultId: string }[] = [];
  let answered!: () => void;
  const allAnswered = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const client = {
    speaks11: false,
    sendResult: async (_taskId: string, body: { resultId: string }) => {
      posts.push({ at: performance.now(), resultId: body.resultId });
      const answer = script[posts.length - 1] ?? ok;
      if (posts.length >= script.length) answered();
      return answer;
    },
  } as unknown as HiveClient;
  const delivery = new ResultDelivery({
    ledger,
    client,
    log,
    errorSleepMs: BASE_MS,
    maxErrorSleepMs: CAP_MS,
  });
  t.after(() => delivery.stop());
  const at = new Date().toISOString();
  const submit = (resultId: string) =>
    delivery.submit(
      `task-${resultId.slice(-1)}`,
      encodeResultBody(
        {
          workerId: 'w',
          resultId,
          workerVersion: '1.0.0',
          status: 'succeeded',
          error: null,
          attempt: 1,
          startedAt: at,
          finishedAt: at,
        },
        '1',
      ),
    );
  const gaps = () => posts.slice(1).map((post, i) => post.at - (posts[i]?.at ?? 0));
  const unsent = () =>
    readdirSync(join(dataDir, 'outbox')).filter((name) => name.endsWith('.json'));
  return { delivery, ledger, submit, posts, allAnswered, gaps, waits, unsent };
}

const R1 = 'bbbbbbbb-0000-0000-0000-000000000001';

// Each case: the server's answers to one result's POSTs, and the waits expected between them.
const cases: [string, ResultOutcome[], number[]][] = [
  [
    '5xx: the wait doubles from TIME_ERROR_SLEEP up to MAX_ERROR_SLEEP',
    [busy(503), busy(500), busy(502), busy(503), ok],
    [100, 200, 400, 400],
  ],
  [
    '429 + Retry-After: that is the wait, and it does not grow the backoff',
    [busy(503), busy(429, 300), busy(503), ok],
    [100, 300, 200],
  ],
  ['a Retry-After beyond MAX_ERROR_SLEEP waits MAX_ERROR_SLEEP', [busy(429, 60_000), ok], [400]],
  ['a rotated token (401) is one more transient wait', [busy(401), ok], [100]],
];

describe('the result pump', () => {
  for (const [name, script, waits] of cases) {
    test(name, async (t) => {
      const { delivery, submit, posts, allAnswered, gaps, waits: said, unsent } = pump(t, script);
      delivery.start();
      const { delivered } = submit(R1);
      assert.equal(await delivered, 'retry', 'its first answer: kept for the pump');
      await allAnswered;
      await delivery.stop();
      assert.equal(posts.length, script.length);
      assert.ok(
        posts.every((post) => post.resultId === R1),
        'each try the same resultId',
      );
      assert.deepEqual(said, waits, 'the waits the pump chose');
      const measured = gaps();
      waits.forEach((ms, i) => {
        const gap = measured[i] ?? 0;
        assert.ok(gap >= ms - 5, `wait ${i + 1}: the POST came after ${gap} ms, before ${ms} ms`);
      });
      assert.deepEqual(unsent(), [], 'delivered: its file has left the outbox');
    });
  }

  test('a success resets the backoff: the next failure waits TIME_ERROR_SLEEP again', async (t) => {
    const R2 = 'bbbbbbbb-0000-0000-0000-000000000002';
    const { delivery, submit, posts, allAnswered, gaps, waits } = pump(t, [
      busy(503),
      busy(503),
      ok,
      busy(503),
      ok,
    ]);
    delivery.start();
    await submit(R1).delivered;
    while (posts.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    await submit(R2).delivered;
    await allAnswered;
    assert.deepEqual(waits, [100, 200, 100], 'after the success, TIME_ERROR_SLEEP again');
    const [first, second, , fourth] = gaps();
    assert.ok((first ?? 0) >= 95 && (second ?? 0) >= 195 && (fourth ?? 0) >= 95, `${gaps()}`);
  });

  test('a stop ends a long wait at once; the result stays queued for the next start', async (t) => {
    const { delivery, submit, posts, unsent } = pump(t, [busy(429, 60_000)]);
    delivery.start();
    await submit(R1).delivered;
    const started = performance.now();
    await delivery.stop();
    assert.ok(performance.now() - started < 300, 'the stop did not wait out the Retry-After');
    assert.equal(posts.length, 1);
    assert.equal(unsent().length, 1, 'its file is still in the outbox');
  });
});
