import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorBackoff, parseRetryAfter, sleep, withJitter } from '../src/platform/backoff.ts';

describe('backoff', () => {
  test('the ceiling doubles per failure up to the cap, and resets after a success', () => {
    const backoff = new ErrorBackoff(100, 1000, () => 1);
    assert.deepEqual(
      Array.from({ length: 6 }, () => backoff.nextDelayMs()),
      [100, 200, 400, 800, 1000, 1000],
    );
    backoff.reset();
    assert.equal(backoff.nextDelayMs(), 100);
  });

  test('full jitter: delays are spread over [0, ceiling]', () => {
    const samples = Array.from({ length: 200 }, () => {
      const backoff = new ErrorBackoff(1000, 60_000);
      backoff.nextDelayMs();
      backoff.nextDelayMs();
      return backoff.nextDelayMs();
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

  test('Retry-After: seconds or an HTTP date, capped; garbage is ignored', () => {
    const now = Date.parse('2026-11-25T10:00:00Z');
    assert.equal(parseRetryAfter('7', 60_000, now), 7000);
    assert.equal(parseRetryAfter('Wed, 25 Nov 2026 10:00:30 GMT', 60_000, now), 30_000);
    assert.equal(parseRetryAfter('3600', 60_000, now), 60_000);
    assert.equal(parseRetryAfter('soon', 60_000, now), undefined);
    assert.equal(parseRetryAfter(undefined, 60_000, now), undefined);
    // No wait at all is no Retry-After: the caller backs off (a server must not cause a storm).
    assert.equal(parseRetryAfter('0', 60_000, now), undefined);
    assert.equal(parseRetryAfter('Wed, 25 Nov 2026 09:59:00 GMT', 60_000, now), undefined);
  });

  test('sleep ends early, without throwing, when aborted', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 20);
    await sleep(10_000, controller.signal);
    assert.ok(Date.now() - started < 2000);
  });
});
