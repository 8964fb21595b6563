/**
 * Every row of the protocol's claim answer table, against the real reference server with
 * injected answers. The worker logs each decision (`next claim in N ms`, at debug level), so the
 * sleeps are asserted exactly instead of timed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

const NO_TASK_MS = 200;
const ERROR_MS = 50;
const CAP_MS = 1500;

test('each claim answer leads to the sleep the protocol names', async () => {
  const inAMinute = new Date(Date.now() + 60_000).toUTCString();
  await server.admin.faults([
    { route: 'claim', status: 500, body: 'oops', times: 3 },
    { route: 'claim', status: 200, body: 'this is not json' },
    { route: 'claim', status: 200, body: JSON.stringify({ task: { id: 5, type: 'echo' } }) },
    { route: 'claim', dropConnection: true },
    { route: 'claim', status: 204 },
    { route: 'claim', status: 502, body: 'bad gateway' },
    { route: 'claim', status: 401, times: 2 },
    { route: 'claim', status: 403 },
    { route: 'claim', status: 429, headers: { 'retry-after': '1' } },
    { route: 'claim', status: 503, headers: { 'retry-after': inAMinute } },
    { route: 'claim', status: 429 },
    { route: 'claim', status: 426 },
    { route: 'claim', status: 204, headers: { 'x-hive-latest-version': '9.9.9' } },
    { route: 'claim', status: 204, headers: { 'x-hive-latest-version': '0.0.1' } },
  ]);
  const worker = startWorker({
    serverUrl: server.url,
    env: {
      HIVE_LOG_LEVEL: 'debug',
      HIVE_NO_TASK_SLEEP: String(NO_TASK_MS / 1000),
      HIVE_TIME_ERROR_SLEEP: String(ERROR_MS / 1000),
      HIVE_MAX_ERROR_SLEEP: String(CAP_MS / 1000),
    },
  });
  try {
    const decisions = await server.admin.waitFor(() => {
      const lines = worker.logLines().filter((line) => line.msg.startsWith('next claim in'));
      return lines.length >= 18 ? lines : undefined;
    }, 30_000);
    const kinds = decisions.map((line) => line.claim);
    assert.deepEqual(kinds.slice(0, 17), [
      'error', // 500
      'error', // 500
      'error', // 500
      'error', // not JSON
      'error', // schema violation
      'error', // dropped connection
      'empty', // 204
      'error', // 502, after the reset
      'unauthorized',
      'unauthorized',
      'unauthorized', // 403
      'throttled', // 429 with Retry-After: 1
      'throttled', // 503 with an HTTP date a minute away
      'throttled', // 429 without Retry-After
      'upgrade-required',
      'empty', // 204 announcing 9.9.9
      'empty', // 204 announcing 0.0.1
    ]);
    const sleeps = decisions.map((line) => Number(line.sleepMs));
    // Full jitter: each error sleep lies in [0, ceiling]; the ceiling doubles up to the cap.
    [50, 100, 200, 400, 800, 1500].forEach((ceiling, i) => {
      assert.ok(
        sleeps[i] !== undefined && sleeps[i] <= ceiling,
        `error sleep ${i} ≤ ${ceiling}, got ${sleeps[i]}`,
      );
    });
    assert.ok(
      within(sleeps[6], NO_TASK_MS * 0.9, NO_TASK_MS * 1.1),
      `204 sleeps NO_TASK_SLEEP ±10 %: ${sleeps[6]}`,
    );
    assert.ok((sleeps[7] ?? Infinity) <= ERROR_MS, `backoff reset after the success: ${sleeps[7]}`);
    assert.deepEqual(
      sleeps.slice(8, 11),
      [ERROR_MS, ERROR_MS, ERROR_MS],
      '401/403 sleep TIME_ERROR_SLEEP',
    );
    assert.equal(sleeps[11], 1000, 'Retry-After in seconds');
    assert.equal(sleeps[12], CAP_MS, 'Retry-After as an HTTP date, capped at MAX_ERROR_SLEEP');
    assert.ok(within(sleeps[15], NO_TASK_MS * 0.9, NO_TASK_MS * 1.1));

    const messages = worker.logLines().map((line) => line.msg);
    const count = (pattern: RegExp) => messages.filter((msg) => pattern.test(msg)).length;
    assert.equal(count(/refused our token \(HTTP 401\)/), 1, 'one clear line per streak of 401s');
    assert.equal(
      count(/refused our token \(HTTP 403\)/),
      0,
      'a 403 right after is the same streak',
    );
    assert.equal(count(/is not JSON/), 1, 'an invalid body is logged');
    assert.equal(count(/is invalid at task\.id/), 1, 'a schema violation is logged with its path');
    assert.equal(count(/refuses this version \(HTTP 426\)/), 1);
    const hints = worker.logLines().filter((line) => /update check was asked for/.test(line.msg));
    assert.deepEqual(
      hints.map((line) => line.reason),
      ['upgrade-required', 'latest-version'],
      'a 426 and a newer X-Hive-Latest-Version ask for an update; an older one does not',
    );
    assert.equal(worker.child.exitCode, null, 'the worker survived every answer');
  } finally {
    await worker.stop();
  }
});

function within(value: number | undefined, low: number, high: number): boolean {
  return value !== undefined && value >= low && value <= high;
}
