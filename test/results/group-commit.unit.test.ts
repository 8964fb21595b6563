/**
 * The grouping decision of a group commit (src/results/group-commit.ts), in-process: which commit
 * each caller is told "durable" by, for arrivals during and between commits, and a failed commit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { GroupCommit } from '../../src/results/group-commit.ts';

/** `join x`: caller x hands over; `ok` / `fail`: the oldest running commit returns, or fails. */
type Step = `join ${string}` | 'ok' | 'fail';

interface Case {
  name: string;
  steps: Step[];
  /** Each commit started, in order: the callers it settled. */
  groups: string[][];
  /** Callers told of a failure. */
  failed?: string[];
}

const CASES: Case[] = [
  { name: 'a lone result: its commit starts at once', steps: ['join a', 'ok'], groups: [['a']] },
  {
    name: 'results that come while a commit runs share the next one',
    steps: ['join a', 'join b', 'join c', 'join d', 'ok', 'ok'],
    groups: [['a'], ['b', 'c', 'd']],
  },
  {
    name: 'one apart from the next: a commit each, none waits for another',
    steps: ['join a', 'ok', 'join b', 'ok', 'join c', 'ok'],
    groups: [['a'], ['b'], ['c']],
  },
  {
    name: 'a steady stream: each commit takes what came during the one before',
    steps: ['join a', 'join b', 'ok', 'join c', 'join d', 'ok', 'join e', 'ok', 'ok'],
    groups: [['a'], ['b'], ['c', 'd'], ['e']],
  },
  {
    name: 'a failed commit fails its group only; the next group gets its own',
    steps: ['join a', 'join b', 'join c', 'fail', 'ok'],
    groups: [['a'], ['b', 'c']],
    failed: ['a'],
  },
  {
    name: 'a failure in the second group leaves the first told durable',
    steps: ['join a', 'join b', 'ok', 'join c', 'fail', 'ok'],
    groups: [['a'], ['b'], ['c']],
    failed: ['b'],
  },
];

describe('group commit: which commit makes each result durable', () => {
  for (const { name, steps, groups, failed = [] } of CASES) {
    test(name, async () => {
      const commits: Array<(ok: boolean) => void> = [];
      let finished = 0;
      const group = new GroupCommit(
        () =>
          new Promise<void>((resolve, reject) => {
            commits.push((ok) => (ok ? resolve() : reject(new Error('fsync failed'))));
          }),
      );
      /** Each caller: the commits begun when it joined, and the commit that settled it. */
      const callers = new Map<string, { joinedAfter: number; by?: number; failed?: boolean }>();
      for (const step of steps) {
        if (step.startsWith('join ')) {
          const caller = { joinedAfter: commits.length } as {
            joinedAfter: number;
            by?: number;
            failed?: boolean;
          };
          callers.set(step.slice(5), caller);
          group.join().then(
            () => Object.assign(caller, { by: finished - 1, failed: false }),
            () => Object.assign(caller, { by: finished - 1, failed: true }),
          );
        } else {
          const settle = commits[finished];
          assert.ok(settle !== undefined, `a commit is running at "${step}"`);
          finished += 1;
          settle(step === 'ok');
        }
        for (let i = 0; i < 4; i += 1) await tick();
      }
      const seen: string[][] = commits.map(() => []);
      for (const [name, caller] of callers) {
        assert.ok(caller.by !== undefined, `${name} was told`);
        assert.ok(caller.by >= caller.joinedAfter, `${name}'s commit began after it joined`);
        seen[caller.by]?.push(name);
      }
      assert.deepEqual(seen, groups, 'the groups');
      assert.equal(finished, commits.length, 'every commit started has returned');
      const told = [...callers].filter(([, caller]) => caller.failed).map(([name]) => name);
      assert.deepEqual(told.sort(), [...failed].sort(), 'who was told the commit failed');
    });
  }
});
