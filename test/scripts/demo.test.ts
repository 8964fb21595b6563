/** The demo is the main job of a fresh clone: it must run and show every result status. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('npm run demo: every task ends as expected, every status shows, exit 0', () => {
  const demo = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));
  const run = spawnSync(process.execPath, [demo], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const table = run.stdout.slice(run.stdout.indexOf('task  '));
  for (const status of ['succeeded', 'failed', 'timed_out', 'cancelled', 'rejected']) {
    assert.match(table, new RegExp(`\\b${status}\\b`), `the table shows ${status}`);
  }
  assert.match(table, /^crash +prom_pars +failed +CRASHED: /m, 'a task whose process dies');
  assert.match(table, /UNKNOWN_TASK/);
  assert.match(table, /BAD_PAYLOAD/);
  assert.match(run.stdout, /all 9 tasks ended as expected/);
  assert.match(run.stdout, /worker exited with code 0/);
});
