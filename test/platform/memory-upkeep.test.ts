import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { MemoryUpkeep, type ReleaseReport } from '../../src/platform/memory-upkeep.ts';
import { capturingLog } from '../helpers/log.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

const AFTER_MS = 200;

function upkeepWithCounter(release?: (thorough: boolean) => ReleaseReport) {
  const { log, lines } = capturingLog('debug');
  const calls = { n: 0, thorough: [] as boolean[] };
  const upkeep = new MemoryUpkeep({
    afterMs: AFTER_MS,
    log,
    release:
      release ??
      ((thorough) => {
        calls.n++;
        calls.thorough.push(thorough);
        return { gcMs: 1.25, trimMs: 0.04, trimmed: true };
      }),
  });
  return { upkeep, calls, lines };
}

describe('MemoryUpkeep', () => {
  test('a burst of work gives memory back once, afterMs after the first; no work, no release', async () => {
    const { upkeep, calls, lines } = upkeepWithCounter();
    await delay(AFTER_MS * 3);
    assert.equal(calls.n, 0, 'nothing was done: nothing is released');
    for (let i = 0; i < 20; i++) upkeep.workDone();
    await delay(AFTER_MS / 3);
    assert.equal(calls.n, 0, 'not before afterMs');
    await delay(AFTER_MS * 2);
    assert.equal(calls.n, 1, 'one release for the burst');
    await delay(AFTER_MS * 3);
    assert.equal(calls.n, 1, 'and none while idle');
    upkeep.workDone();
    await delay(AFTER_MS * 3);
    assert.equal(calls.n, 2, 'work again: released again');
    assert.deepEqual(calls.thorough, [true, true], 'after work has stopped: the thorough one');
    const said = lines.filter((line) => line.msg === 'freed memory given back to the system');
    assert.equal(said.length, 2);
    assert.deepEqual(
      {
        gcMs: said[1]?.gcMs,
        trimMs: said[1]?.trimMs,
        trimmed: said[1]?.trimmed,
        thorough: said[1]?.thorough,
      },
      { gcMs: 1.3, trimMs: 0, trimmed: true, thorough: true },
    );
    upkeep.close();
  });

  test('work that goes on is released every afterMs (quickly), then thoroughly once it stops', async () => {
    const { upkeep, calls } = upkeepWithCounter();
    const until = Date.now() + AFTER_MS * 6;
    while (Date.now() < until) {
      upkeep.workDone();
      await delay(AFTER_MS / 6);
    }
    const during = calls.n;
    assert.ok(during >= 3, `released ${during} times during ${AFTER_MS * 6} ms of work`);
    await delay(AFTER_MS * 3);
    // The one due when work stopped is still a quick one; the thorough one comes afterMs after
    // the last work.
    assert.deepEqual(
      calls.thorough,
      [...Array(calls.n - 1).fill(false), true],
      'quick while work goes on, thorough once it stops',
    );
    const after = calls.n;
    assert.ok(after - during <= 2, `${after - during} releases after work stopped`);
    await delay(AFTER_MS * 3);
    assert.equal(calls.n, after, 'then nothing while idle');
    upkeep.close();
  });

  test('close cancels a release that is due; a release that throws is logged, not thrown', async () => {
    const closed = upkeepWithCounter();
    closed.upkeep.workDone();
    closed.upkeep.close();
    closed.upkeep.workDone();
    await delay(AFTER_MS * 3);
    assert.equal(closed.calls.n, 0);

    const failing = upkeepWithCounter(() => {
      throw new Error('no ffi here');
    });
    failing.upkeep.workDone();
    await delay(AFTER_MS * 3);
    assert.ok(
      failing.lines.some((line) => /could not give memory back.*no ffi here/.test(line.msg)),
    );
    failing.upkeep.close();
  });
});

/**
 * A real Node process makes the C allocator keep freed memory (big chunks freed between small
 * ones still alive, so the heap's top cannot shrink), then calls releaseFreeMemory.
 */
const FRAGMENTING_SCRIPT = `
import { readFileSync } from 'node:fs';
import { releaseFreeMemory } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'src', 'platform', 'memory-upkeep.ts'))};
const privateMb = () => Number(/^Anonymous:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]) / 1024;
const before = privateMb();
let big = [];
const small = [];
for (let i = 0; i < 2000; i++) {
  big.push(Buffer.alloc(48 * 1024, 1));
  small.push(Buffer.alloc(5000, 2));
}
const full = privateMb();
big = undefined;
const report = releaseFreeMemory();
const after = privateMb();
console.log(JSON.stringify({ before, full, after, report, small: small.length, gc: typeof globalThis.gc }));
`;

describe('releaseFreeMemory', { skip: process.platform !== 'linux' }, () => {
  test('on glibc, freed memory leaves the process: collection, then malloc_trim, without a warning', () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', FRAGMENTING_SCRIPT], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /ExperimentalWarning|FFI/, 'node:ffi says nothing to the user');
    const figures = JSON.parse(run.stdout) as {
      before: number;
      full: number;
      after: number;
      report: ReleaseReport;
      gc: string;
    };
    assert.equal(figures.report.trimmed, true, 'malloc_trim ran');
    assert.equal(figures.gc, 'undefined', "the process's own global gets no gc");
    // ≈ 94 MB of 48 KiB buffers were made and dropped; the 10 MB of 5,000-byte ones stay alive.
    assert.ok(figures.full - figures.before > 80, `grew ${figures.full - figures.before} MB`);
    assert.ok(
      figures.after < figures.full - 60,
      `private memory ${figures.full.toFixed(1)} MB before the release, ${figures.after.toFixed(1)} MB after`,
    );
  });
});

describe('a worker and MEMORY_TRIM', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server?.close());

  for (const [trim, expected] of [
    ['0.3', true],
    ['0', false],
  ] as const) {
    test(`MEMORY_TRIM=${trim}: ${expected ? 'memory given back after a task' : 'never'}`, async () => {
      const id = `trim-${trim}`;
      await server.admin.enqueue({ id, type: 'echo', payload: { trim } });
      const w = startWorker({
        serverUrl: server.url,
        env: { HIVE_MEMORY_TRIM: trim, HIVE_LOG_LEVEL: 'debug' },
      });
      try {
        await server.admin.waitFor(async () => (await server.admin.task(id)).state === 'done');
        // Well past 0.3 s after the task: the release has happened, if it is to.
        await delay(1500);
      } finally {
        await w.stop();
      }
      const released = w
        .logLines()
        .filter((line) => /memory given back|garbage collected/.test(line.msg));
      assert.equal(released.length > 0, expected, w.output());
    });
  }
});
