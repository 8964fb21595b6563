/** The pool's decisions (src/task/pool-decisions.ts): which process, how many ahead, reuse or retire. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  afterFreshTake,
  afterTask,
  isOverLimit,
  mayReuse,
  pickIdle,
  QUEUEING_TAKES,
  sparesToStart,
  startsOnTake,
  unfitBeforeRun,
} from '../../src/task/pool-decisions.ts';

const idle = (name: string, ready: boolean, tasksRun: number) => ({ name, ready, tasksRun });
const FRESH_STARTING = idle('fresh-starting', false, 0);
const FRESH_READY = idle('fresh-ready', true, 0);
const USED_UNDOING = idle('used-undoing', false, 2);
const USED_READY = idle('used-ready', true, 1);

describe('pickIdle: which idle process a task gets', () => {
  const cases: [string, ReturnType<typeof idle>[], boolean, string | undefined][] = [
    ['none idle: none (the pool starts one)', [], true, undefined],
    ['a ready used one first', [FRESH_READY, USED_UNDOING, USED_READY], true, 'used-ready'],
    [
      'a used one still undoing before a ready spare',
      [FRESH_READY, USED_UNDOING],
      true,
      'used-undoing',
    ],
    ['a fresh task never gets a used one', [USED_READY, FRESH_STARTING], false, 'fresh-starting'],
    ['a fresh task and only used ones: none', [USED_READY, USED_UNDOING], false, undefined],
    ['a ready spare before one still starting', [FRESH_STARTING, FRESH_READY], true, 'fresh-ready'],
    ['else the one still starting', [FRESH_STARTING], false, 'fresh-starting'],
  ];
  for (const [name, pool, reusable, picked] of cases) {
    test(name, () => {
      assert.equal(pickIdle(pool, reusable)?.name, picked);
    });
  }
});

describe('how many processes start ahead of need', () => {
  const pool = { size: 1, queueing: false, idle: 0, comingBack: 0, closed: false };
  const cases: [string, Partial<Parameters<typeof sparesToStart>[0]>, number][] = [
    ['one per slot', { size: 2 }, 2],
    ['less those idle', { size: 2, idle: 1 }, 1],
    ['one more while tasks queue up', { size: 2, queueing: true, idle: 1 }, 2],
    ['never below none (used ones waiting count)', { idle: 3 }, 0],
    ['a slot whose kept process is out on a task: none beside it', { comingBack: 1 }, 0],
    ['two slots, one kept process out: one', { size: 2, comingBack: 1 }, 1],
    ['two slots, one kept out and one idle: none', { size: 2, comingBack: 1, idle: 1 }, 0],
    ['queueing, the kept process out: the extra one only', { queueing: true, comingBack: 1 }, 1],
    ['WARM_START=false: none', { size: 0, queueing: true }, 0],
    ['a closed pool: none', { size: 2, closed: true }, 0],
    ['queueing, CONCURRENCY 1, nothing idle: two', { queueing: true }, 2],
    [
      'queueing, CONCURRENCY 1, one idle (a task just took the other): one',
      { queueing: true, idle: 1 },
      1,
    ],
  ];
  for (const [name, fields, count] of cases) {
    test(name, () => assert.equal(sparesToStart({ ...pool, ...fields }), count));
  }

  const takes: [string, Parameters<typeof startsOnTake>[0], boolean][] = [
    [
      'queueing, a fresh spare taken: the next starts now',
      { size: 1, queueing: true, closed: false, took: 'fresh', last: false },
      true,
    ],
    [
      'queueing, none idle (the task starts its own): the next starts now',
      { size: 1, queueing: true, closed: false, took: 'none', last: false },
      true,
    ],
    [
      'no queue: after the result is answered (a lone task never waits for a spawn)',
      { size: 1, queueing: false, closed: false, took: 'fresh', last: false },
      false,
    ],
    [
      'a used process taken (TASKS_PER_PROCESS): as before',
      { size: 1, queueing: true, closed: false, took: 'used', last: false },
      false,
    ],
    [
      'a kept process taken for its last task (TASKS_PER_PROCESS): its successor starts now',
      { size: 1, queueing: false, closed: false, took: 'used', last: true },
      true,
    ],
    [
      'a used process that comes back after its task: none',
      { size: 1, queueing: false, closed: false, took: 'used', last: false },
      false,
    ],
    [
      'a fresh process for a fresh task (TASKS_PER_PROCESS 1), no queue: after the answer',
      { size: 1, queueing: false, closed: false, took: 'fresh', last: true },
      false,
    ],
    [
      'WARM_START=false: never',
      { size: 0, queueing: true, closed: false, took: 'none', last: false },
      false,
    ],
    [
      'a closed pool: never',
      { size: 1, queueing: true, closed: true, took: 'fresh', last: false },
      false,
    ],
  ];
  for (const [name, pool, starts] of takes) {
    test(`on a take: ${name}`, () => assert.equal(startsOnTake(pool), starts));
  }

  test(`${QUEUEING_TAKES} takes in a row of a spare still starting: queueing, until the TTL says not`, () => {
    let streak = { startingTakes: 0, queueing: false };
    streak = afterFreshTake(streak, false, 1);
    assert.deepEqual(streak, { startingTakes: 1, queueing: false }, 'one: a worker just started');
    streak = afterFreshTake(streak, false, 1);
    assert.deepEqual(streak, { startingTakes: 2, queueing: true });
    streak = afterFreshTake(streak, true, 1);
    assert.deepEqual(streak, { startingTakes: 0, queueing: true }, 'a ready take keeps it');
    assert.equal(afterFreshTake({ startingTakes: 5, queueing: false }, false, 0).queueing, false);
  });
});

describe('reuse: TASKS_PER_PROCESS and REUSE_MAX_RSS', () => {
  const reuse: [number, number, boolean, boolean][] = [
    [0, 1, false, false],
    [0, 3, false, true],
    [1, 3, false, true],
    [2, 3, false, false],
    [0, 3, true, false],
  ];
  for (const [tasksRun, tasksPerProcess, closed, may] of reuse) {
    test(`a process that ran ${tasksRun}, TASKS_PER_PROCESS=${tasksPerProcess}${closed ? ', pool closed' : ''}: ${may ? 'runs another' : 'runs no more'}`, () => {
      assert.equal(mayReuse(tasksRun, tasksPerProcess, closed), may);
    });
  }

  const rss: [number | undefined, number, boolean][] = [
    [300 * 2 ** 20, 256 * 2 ** 20, true],
    [256 * 2 ** 20, 256 * 2 ** 20, false],
    [2 ** 40, 0, false],
    [undefined, 1, false],
  ];
  for (const [rssBytes, max, over] of rss) {
    test(`rss ${rssBytes}, REUSE_MAX_RSS ${max} bytes: ${over ? 'over' : 'within'}`, () => {
      assert.equal(isOverLimit(rssBytes, max), over);
    });
  }

  const unfit = {
    tasksRun: 1,
    runSent: false,
    replaced: false,
    stopped: false,
    connected: true,
    overLimit: false,
  };
  const unfitCases: [string, Partial<typeof unfit>, boolean][] = [
    ['a reused process that is fine', {}, false],
    ['a reused process that died before its run', { connected: false }, true],
    ['a reused process past REUSE_MAX_RSS', { overLimit: true }, true],
    ['a fresh process is never swapped', { tasksRun: 0, connected: false }, false],
    ['the run was sent: too late to swap', { runSent: true, overLimit: true }, false],
    ['swapped once already', { replaced: true, connected: false }, false],
    ['the task was stopped meanwhile', { stopped: true, connected: false }, false],
  ];
  for (const [name, fields, swapped] of unfitCases) {
    test(`swap before the run: ${name}`, () => {
      assert.equal(unfitBeforeRun({ ...unfit, ...fields }), swapped);
    });
  }

  const ends: [boolean, boolean, boolean, 'give-back' | 'retire'][] = [
    [true, false, true, 'give-back'],
    [false, false, true, 'retire'],
    [true, true, true, 'retire'],
    [true, false, false, 'retire'],
  ];
  for (const [succeeded, closed, alive, what] of ends) {
    test(`after a task (succeeded ${succeeded}, closed ${closed}, alive ${alive}): ${what}`, () => {
      assert.equal(afterTask({ succeeded, closed, alive }), what);
    });
  }
});
