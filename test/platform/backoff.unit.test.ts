import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorBackoff, parseRetryAfter, sleep, withJitter } from '../../src/platform/backoff.ts';

/** A seeded generator (Park–Miller): the same draws on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 48_271) % 2_147_483_647;
    return state / 2_147_483_647;
  };
}

describe('backoff', () => {
  test('the ceiling doubles per failure up to the cap, and resets after a success', () => {
    const backoff = new ErrorBackoff(100, 1000, () => 1);
    assert.deepEqual(
      Array.from({ length: 6 }, () => backoff.next()),
      [100, 200, 400, 800, 1000, 1000],
    );
    backoff.reset();
    assert.equal(backoff.next(), 100);
  });

  test('a seeded Random gives the same delays each run, each within its ceiling', () => {
    const delays = (seed: number) => {
      const backoff = new ErrorBackoff(100, 1000, seeded(seed));
      return Array.from({ length: 8 }, () => [backoff.ceilingMs(), backoff.next()]);
    };
    const first = delays(42);
    assert.deepEqual(delays(42), first);
    assert.notDeepEqual(delays(43), first);
    assert.deepEqual(
      first.map(([ceiling]) => ceiling),
      [100, 200, 400, 800, 1000, 1000, 1000, 1000],
    );
    for (const [ceiling = 0, delay = -1] of first) assert.ok(delay >= 0 && delay <= ceiling);
  });

  test('the failures are counted; a base above the cap is the cap', () => {
    const backoff = new ErrorBackoff(500, 100, () => 1);
    assert.equal(backoff.next(), 500);
    assert.equal(backoff.next(), 500);
    assert.equal(backoff.failures, 2);
    assert.equal(new ErrorBackoff(100, 1000, () => 0).next(), 0);
  });

  // Each step: a Retry-After (ms) or none, or 'reset' (a success); the delay with random() = 1.
  const policy: [string, (number | undefined | 'reset')[], number[]][] = [
    [
      'no Retry-After: doubling up to the cap',
      [undefined, undefined, undefined, undefined, undefined],
      [100, 200, 400, 800, 1000],
    ],
    [
      'a Retry-After is the wait and does not grow the backoff',
      [undefined, 700, 700, undefined],
      [100, 700, 700, 200],
    ],
    ['a Retry-After is capped at the cap', [5000, undefined], [1000, 100]],
    [
      'a Retry-After during a long streak does not add to it',
      [undefined, undefined, undefined, 50, undefined],
      [100, 200, 400, 50, 800],
    ],
    [
      'a success starts over from the base',
      [undefined, undefined, 'reset', undefined],
      [100, 200, 100],
    ],
    [
      'a zero Retry-After is honoured as given (parseRetryAfter turns 0 into none)',
      [0, undefined],
      [0, 100],
    ],
  ];
  for (const [name, steps, expected] of policy) {
    test(`next(retryAfterMs): ${name}`, () => {
      const backoff = new ErrorBackoff(100, 1000, () => 1);
      const delays: number[] = [];
      for (const step of steps) {
        if (step === 'reset') backoff.reset();
        else delays.push(backoff.next(step));
      }
      assert.deepEqual(delays, expected);
    });
  }

  test('full jitter: delays are spread over [0, ceiling]', () => {
    const random = seeded(7);
    const samples = Array.from({ length: 200 }, () => {
      const backoff = new ErrorBackoff(1000, 60_000, random);
      backoff.next();
      backoff.next();
      return backoff.next();
    });
    assert.ok(samples.every((ms) => ms >= 0 && ms <= 4000));
    assert.ok(
      Math.min(...samples) < 1000 && Math.max(...samples) > 3000,
      'spread across the range',
    );
  });

  test('no-task sleep jitters by ±10 %', () => {
    assert.equal(
      withJitter(1000, 0.1, () => 0),
      900,
    );
    assert.equal(
      withJitter(1000, 0.1, () => 1),
      1100,
    );
  });

  const now = Date.parse('2026-11-25T10:00:00Z');
  const retryAfter: [string | undefined, number | undefined][] = [
    ['7', 7000],
    [' 7 ', 7000],
    ['Wed, 25 Nov 2026 10:00:30 GMT', 30_000],
    ['3600', 60_000],
    ['soon', undefined],
    ['-5', undefined],
    ['1.5', undefined],
    [undefined, undefined],
    // No wait at all is no Retry-After: the caller backs off (a server must not cause a storm).
    ['0', undefined],
    ['Wed, 25 Nov 2026 09:59:00 GMT', undefined],
  ];
  for (const [value, ms] of retryAfter) {
    test(`Retry-After ${JSON.stringify(value)} is ${ms} ms (seconds or a date, capped at 60 s)`, () => {
      assert.equal(parseRetryAfter(value, 60_000, now), ms);
    });
  }

  test('sleep ends early, without throwing, when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await sleep(10_000, controller.signal);
    assert.ok(Date.now() - started < 2000);
  });
});
