/** How many tasks the worker holds beyond its free slots (src/loop/held-tasks.ts `prefetchNow`). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOLD_BUDGET_MS, prefetchNow } from '../../src/loop/held-tasks.ts';

test('PREFETCH is reached while tasks are short, one while they are long or unknown', () => {
  const cases: [prefetch: number, concurrency: number, recentTaskMs: number[], held: number][] = [
    // 0 and 1 are taken as set, whatever the tasks take.
    [0, 1, [], 0],
    [0, 1, [1], 0],
    [1, 1, [], 1],
    [1, 1, [60_000], 1],
    // Nothing ran yet: one, until the first task says how long they take.
    [4, 1, [], 1],
    // Short tasks: all of PREFETCH (the 4th held one waits ≈ 4 × 2 ms).
    [4, 1, [1, 2, 1], 4],
    [4, 1, [0, 0], 4],
    [64, 1, [5], 64],
    // As many as start within HOLD_BUDGET_MS behind the longest of the latest.
    [4, 1, [10, HOLD_BUDGET_MS / 2], 2],
    [4, 1, [HOLD_BUDGET_MS / 3], 3],
    [4, 2, [HOLD_BUDGET_MS / 3], 4],
    [8, 2, [HOLD_BUDGET_MS / 3], 6],
    // Long tasks: never fewer than one (the next task is still here when the last one ends).
    [4, 1, [HOLD_BUDGET_MS], 1],
    [4, 1, [1, 1, 1, 10 * 60_000], 1],
    [4, 4, [10 * 60_000], 1],
  ];
  for (const [prefetch, concurrency, recentTaskMs, held] of cases) {
    assert.equal(
      prefetchNow({ prefetch, concurrency, recentTaskMs }),
      held,
      `PREFETCH ${prefetch}, CONCURRENCY ${concurrency}, latest ${recentTaskMs.join('/')} ms`,
    );
  }
});
