/**
 * `npm run bench:memory` end to end at a tiny size on the built executable (test/helpers): it runs
 * its three soaks and judges them, and — the hostile side — refuses a soak whose tasks did not all
 * succeed (a worker setting from the environment makes the big results fail), ending with one
 * clear line, no worker left running and no temp folder left behind. What the figures are is the
 * bench's business, not this test's: nothing here asserts a memory figure or a duration.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT } from '../../scripts/build.ts';
import { builtWorker } from '../helpers/built-worker.ts';

const RESULTS = join(ROOT, 'bench', 'memory.results.json');
const tmpRoots: string[] = [];
after(() => {
  for (const dir of tmpRoots) rmSync(dir, { recursive: true, force: true });
});

/** Workers still running whose data folder lies under `root`, from their environment. */
function workersUnder(root: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(`HIVE_DATA_DIR=${root}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The bench at a tiny size, its temp folders under a TMPDIR of its own. */
async function runSoak(env: Record<string, string> = {}) {
  const exe = await builtWorker();
  const tmp = mkdtempSync(join(tmpdir(), 'hive-soak-test-'));
  tmpRoots.push(tmp);
  const args = ['--exe', exe, '--tasks', '10', '--idle-seconds', '1', '--big-every', '5'];
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'memory.ts'), ...args], {
    env: { ...process.env, ...env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, output, tmp };
}

describe('npm run bench:memory', { timeout: 600_000 }, () => {
  test('runs its three soaks at a small size, judges them and leaves the baseline alone', async () => {
    const before = statSync(RESULTS, { throwIfNoEntry: false })?.mtimeMs;
    const run = await runSoak();
    assert.equal(run.code, 0, run.output);
    for (const line of [
      'peak private memory during 10 small tasks',
      'peak private memory, 4 MiB payloads and results',
      'peak private memory, 8 MiB payloads and results',
      'private memory 1 s after the last result, 8 MiB results',
      'bench/memory.results.json not written',
    ])
      assert.ok(run.output.includes(line), `${line}\n---\n${run.output}`);
    assert.equal(statSync(RESULTS, { throwIfNoEntry: false })?.mtimeMs, before);
    assert.deepEqual(workersUnder(run.tmp), []);
    assert.deepEqual(readdirSync(run.tmp), [], 'its temp folders are removed');
  });

  test('a soak whose results failed is refused with one clear line, and cleaned up', async () => {
    // 4 KiB of JSON at most: the big results of the second soak fail, the small tasks pass.
    const run = await runSoak({ HIVE_MAX_RESULT_BYTES: '4096' });
    assert.equal(run.code, 1, run.output);
    assert.match(
      run.output,
      /only 8 of 10 tasks of "every 5th task an 8 MiB payload and result" succeeded .*: the soak is not valid/,
    );
    assert.doesNotMatch(run.output, /peak private memory during/, 'no table from a refused run');
    assert.deepEqual(workersUnder(run.tmp), []);
    assert.deepEqual(readdirSync(run.tmp), [], 'its temp folders are removed');
  });
});
