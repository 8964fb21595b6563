/**
 * Protocol 1.1's pure decisions, in process (src/wire/batch.ts): how many tasks to ask for, what
 * each entry of a batch answer means, what a batch's whole answer means, what a release answer
 * means, and the bodies built from a result's encoded text.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Answer } from '../../src/wire/answers.ts';
import {
  batchBody,
  batchOutcome,
  entryOutcome,
  giveBackOutcome,
  speaks11,
  tasksToAskFor,
  withNext,
} from '../../src/wire/batch.ts';
import { claimOutcome, resultOutcome } from '../../src/wire/outcomes.ts';

const CAP_MS = 300_000;

function answer(status: number, body: unknown, headers: Answer['headers'] = {}): Answer {
  const text = body === undefined ? '' : JSON.stringify(body);
  return { status, headers, text, chunks: [Buffer.from(text)] };
}

describe('protocol 1.1 decisions', () => {
  test('tasks to ask for: free slots + PREFETCH − held, within 0…64', () => {
    const cases: [free: number, prefetch: number, held: number, asked: number][] = [
      [1, 0, 0, 1],
      [1, 1, 0, 2],
      [4, 2, 0, 6],
      [1, 2, 2, 1],
      [0, 1, 1, 0],
      [0, 0, 3, 0],
      [64, 63, 0, 64],
    ];
    for (const [free, prefetch, held, asked] of cases) {
      assert.equal(tasksToAskFor({ free, prefetch, held }), asked, `${free}/${prefetch}/${held}`);
    }
  });

  test('each entry of a batch answer is handled as section 3 handles its status', () => {
    const cases: [status: number, retryAfterSec: number | undefined, kind: string][] = [
      [200, undefined, 'accepted'],
      [201, undefined, 'accepted'],
      [202, undefined, 'accepted'],
      [409, undefined, 'duplicate'],
      [404, undefined, 'gone'],
      [410, undefined, 'gone'],
      [400, undefined, 'refused'],
      [413, undefined, 'refused'],
      [422, undefined, 'refused'],
      [418, undefined, 'refused'],
      [401, undefined, 'retry'],
      [403, undefined, 'retry'],
      [407, undefined, 'retry'],
      [408, undefined, 'retry'],
      [425, undefined, 'retry'],
      [429, 2, 'retry'],
      [500, undefined, 'retry'],
      [503, 0.5, 'retry'],
    ];
    for (const [status, retryAfterSec, kind] of cases) {
      const outcome = entryOutcome({ resultId: 'r', status, retryAfterSec }, CAP_MS);
      assert.equal(outcome.kind, kind, `status ${status}`);
      if (retryAfterSec !== undefined && outcome.kind === 'retry') {
        assert.equal(outcome.retryAfterMs, retryAfterSec * 1000, `retryAfterSec of ${status}`);
      }
    }
  });

  test('a batch answer as a whole: answered, no batches here, each alone, or all kept', () => {
    const task = { id: 't-9', type: 'echo', payload: { n: 1 } };
    const answered = batchOutcome(
      answer(200, {
        results: [
          { resultId: 'a', status: 201 },
          { resultId: 'b', status: 503, retryAfterSec: 1 },
        ],
        next: { tasks: [task] },
      }),
      CAP_MS,
    );
    assert.equal(answered.kind, 'answered');
    if (answered.kind === 'answered') {
      assert.equal(answered.results.get('a')?.kind, 'accepted');
      assert.equal(answered.results.get('b')?.kind, 'retry');
      assert.equal(answered.results.get('c'), undefined, 'one not named: the caller keeps it');
      assert.deepEqual(
        answered.tasks.map(({ id }) => id),
        ['t-9'],
      );
    }
    const cases: [status: number, body: unknown, kind: string][] = [
      [404, undefined, 'unsupported'],
      [405, undefined, 'unsupported'],
      [501, undefined, 'unsupported'],
      [400, { error: 'no' }, 'alone'],
      [413, undefined, 'alone'],
      [401, undefined, 'retry'],
      [429, undefined, 'retry'],
      [500, undefined, 'retry'],
      [503, undefined, 'retry'],
      [200, 'not an object', 'retry'],
      [200, { results: 'no' }, 'retry'],
    ];
    for (const [status, body, kind] of cases) {
      assert.equal(batchOutcome(answer(status, body), CAP_MS).kind, kind, `${status} ${body}`);
    }
  });

  test('a claim answer: one task (version 1) or several (1.1-b); a result answer’s next tasks (1.1-c)', () => {
    const one = { id: 'a', type: 'echo', payload: 1 };
    const two = { id: 'b', type: 'echo', payload: [2] };
    const cases: [body: unknown, kind: string, ids: string[]][] = [
      [{ task: one }, 'task', ['a']],
      [{ tasks: [one, two] }, 'task', ['a', 'b']],
      [{ tasks: [] }, 'error', []],
      [{}, 'error', []],
      [{ task: { ...one, id: '' } }, 'error', []],
    ];
    for (const [body, kind, ids] of cases) {
      const outcome = claimOutcome(answer(200, body), CAP_MS);
      assert.equal(outcome.kind, kind, JSON.stringify(body));
      if (outcome.kind === 'task')
        assert.deepEqual(
          outcome.tasks.map(({ id }) => id),
          ids,
        );
    }
    const taken = resultOutcome(answer(201, { next: { tasks: [two] } }), CAP_MS);
    assert.deepEqual(taken.kind === 'accepted' ? taken.tasks.map(({ id }) => id) : [], ['b']);
    const again = resultOutcome(answer(409, { next: { tasks: [one] } }), CAP_MS);
    assert.deepEqual(again.kind === 'duplicate' ? again.tasks.map(({ id }) => id) : [], ['a']);
    const bare = resultOutcome(answer(200, undefined), CAP_MS);
    assert.deepEqual(bare.kind === 'accepted' ? bare.tasks : undefined, [], 'no body: no tasks');
  });

  test('a release answer: given back, no longer ours, or left to lapse', () => {
    const cases: [number, string][] = [
      [200, 'released'],
      [204, 'released'],
      [404, 'not-ours'],
      [409, 'not-ours'],
      [410, 'not-ours'],
      [500, 'lapses'],
      [429, 'lapses'],
      [401, 'lapses'],
    ];
    for (const [status, meaning] of cases)
      assert.equal(giveBackOutcome(status), meaning, `${status}`);
  });

  test('the capability is the latest answer’s header, exactly 1.1', () => {
    assert.equal(speaks11(answer(204, undefined, { 'x-hive-protocol': '1.1' })), true);
    assert.equal(speaks11(answer(204, undefined, {})), false);
    assert.equal(speaks11(answer(204, undefined, { 'x-hive-protocol': '1' })), false);
    assert.equal(speaks11(answer(204, undefined, { 'x-hive-protocol': ['1.1', '1'] })), true);
  });

  test('bodies are built around a result’s encoded text, which stays as it was', () => {
    const json = JSON.stringify({ workerId: 'w', resultId: 'r-1', status: 'succeeded' });
    assert.deepEqual(JSON.parse(withNext(json, 3)), { next: { max: 3 }, ...JSON.parse(json) });
    assert.equal(withNext(json, undefined), json);
    const batch = JSON.parse(batchBody('w', [{ taskId: 't/1"', json }], 0));
    assert.deepEqual(batch, {
      workerId: 'w',
      results: [{ taskId: 't/1"', ...JSON.parse(json) }],
      next: { max: 0 },
    });
    assert.equal(JSON.parse(batchBody('w', [], undefined)).next, undefined);
  });
});
