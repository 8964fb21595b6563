/** How long the loop sleeps after each kind of claim answer (src/loop/claim-answers.ts), in-process. */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { ClaimAnswers } from '../../src/loop/claim-answers.ts';
import { HiveError } from '../../src/platform/errors.ts';
import type { Logger } from '../../src/platform/log.ts';
import type { Settings } from '../../src/settings/table.ts';
import type { ClaimOutcome } from '../../src/wire/outcomes.ts';

const SETTINGS = {
  errorSleepMs: 1000,
  maxErrorSleepMs: 8000,
  noTaskSleepMs: 2000,
  waitSec: 20,
  tokenFrom: 'TOKEN',
} as Settings;

function answers(t: TestContext, random = () => 1) {
  // ErrorBackoff draws from Math.random: a fixed one makes each delay its ceiling.
  t.mock.method(Math, 'random', random);
  const lines: string[] = [];
  const line = (...args: unknown[]) => {
    lines.push(String(args.at(-1)));
  };
  const log = { info: line, warn: line, error: line, debug: line } as unknown as Logger;
  const hints: unknown[] = [];
  const claims = new ClaimAnswers({
    settings: SETTINGS,
    log,
    version: '1.2.0',
    onUpdateHint: (hint) => hints.push(hint),
  });
  return { claims, lines, hints };
}

const error: ClaimOutcome = {
  kind: 'error',
  error: new HiveError('NETWORK', 'claim failed: down'),
};
const idle = { tookMs: 0, isStopping: false };

describe('sleepAfter', () => {
  const once: [string, ClaimOutcome, { tookMs: number; isStopping: boolean }, number][] = [
    [
      'a task: claim again at once',
      { kind: 'task', tasks: [{} as never], latestVersion: undefined },
      idle,
      0,
    ],
    [
      'none, after a held long poll: at once',
      { kind: 'empty', latestVersion: undefined },
      { tookMs: 10_000, isStopping: false },
      0,
    ],
    [
      'none, answered at once: the no-task sleep (jittered)',
      { kind: 'empty', latestVersion: undefined },
      idle,
      2200,
    ],
    ['a 401: the error sleep', { kind: 'unauthorized', status: 401 }, idle, 1000],
    [
      'a 429 with Retry-After: that',
      { kind: 'throttled', status: 429, retryAfterMs: 4321 },
      idle,
      4321,
    ],
    [
      'a 503 without: the backoff',
      { kind: 'throttled', status: 503, retryAfterMs: undefined },
      idle,
      1000,
    ],
    ['an error while stopping: no sleep', error, { tookMs: 0, isStopping: true }, 0],
    ['a 426: the backoff', { kind: 'upgrade-required' }, idle, 1000],
  ];
  for (const [name, claim, when, ms] of once) {
    test(name, (t) => {
      assert.equal(answers(t).claims.sleepAfter(claim, when), ms);
    });
  }

  test('errors in a row double the sleep up to MAX_ERROR_SLEEP; a good answer starts over', (t) => {
    const { claims } = answers(t);
    const row = Array.from({ length: 6 }, () => claims.sleepAfter(error, idle));
    assert.deepEqual(row, [1000, 2000, 4000, 8000, 8000, 8000]);
    claims.sleepAfter(
      { kind: 'empty', latestVersion: undefined },
      { tookMs: 10_000, isStopping: false },
    );
    assert.equal(claims.sleepAfter(error, idle), 1000);
  });

  test('with a seeded Random the error sleeps stay within their ceilings', (t) => {
    let state = 1;
    const { claims } = answers(t, () => {
      state = (state * 48_271) % 2_147_483_647;
      return state / 2_147_483_647;
    });
    const ceilings = [1000, 2000, 4000, 8000, 8000];
    for (const ceiling of ceilings) {
      const ms = claims.sleepAfter(error, idle);
      assert.ok(ms >= 0 && ms <= ceiling, `${ms} within ${ceiling}`);
    }
  });

  test('a streak of 401s is said once; a newer version is a hint', (t) => {
    const { claims, lines, hints } = answers(t);
    for (let i = 0; i < 3; i++) claims.sleepAfter({ kind: 'unauthorized', status: 401 }, idle);
    assert.equal(lines.filter((text) => text.includes('refused our token')).length, 1);
    claims.sleepAfter({ kind: 'empty', latestVersion: '1.3.0' }, idle);
    assert.deepEqual(hints, [{ reason: 'latest-version', version: '1.3.0' }]);
  });
});
