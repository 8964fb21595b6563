/**
 * Results the server would not take, and what brings them home (protocol section 3), on real
 * worker processes and the real reference server:
 * - a rotated token: the result waits in the outbox; the operator fixes worker.config.json; the
 *   worker reads it again after the next 401/403 and the result arrives, without a restart;
 * - a refused result (422) is kept in rejected/, counted by --status, and put back in the outbox
 *   by `worker --requeue-rejected` (refused while a worker holds the data folder), same resultId.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { spawnServer, startTestServer } from '../helpers/server.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, startWorker, tempDir } from '../helpers/worker.ts';

const jsonFiles = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));

describe('results the server refused for a while', () => {
  test('a rotated token: the result waits, worker.config.json is fixed, it arrives with no restart', async () => {
    const one = await spawnServer({ token: 'token-one-1111' });
    const config = join(tempDir('hive-rotate-'), 'worker.config.json');
    writeFileSync(config, JSON.stringify({ TOKEN: 'token-one-1111' }));
    const w = startWorker({ serverUrl: one.url, env: { HIVE_CONFIG: config } });
    let two: Awaited<ReturnType<typeof spawnServer>> | undefined;
    try {
      await one.admin.enqueue({ id: 'rotate-1', type: 'sleep', payload: { ms: 1500 } });
      await w.waitForOutput(/claimed task rotate-1/);
      // The token is rotated on the server while the task runs.
      await one.stop();
      two = await spawnServer({ port: one.port, dataDir: one.dataDir, token: 'token-two-2222' });
      await w.waitForOutput(/kept in the outbox to re-send: result answered HTTP 403.*fix TOKEN/);
      assert.deepEqual(readdirSync(join(w.dataDir, 'rejected')), [], 'not refused for good');
      writeFileSync(config, JSON.stringify({ TOKEN: 'token-two-2222' }));
      await w.waitForOutput(/the token was changed \(TOKEN \(from worker\.config\.json\)\)/);
      const admin = two.admin;
      const task = await admin.waitFor(async () => {
        const view = await admin.task('rotate-1');
        return view.results.length > 0 ? view : undefined;
      }, 20_000);
      assert.equal(task.results.length, 1);
      // done/ gets the outbox file itself once the answer is in: a moment after the server has it.
      const [done] = await admin.waitFor(async () => {
        const files = jsonFiles(join(w.dataDir, 'done'));
        return files.length > 0 ? files : undefined;
      });
      assert.equal(task.results[0]?.body.resultId, done.body.resultId, 'the same resultId');
      assert.equal(w.child.exitCode, null, 'no restart was needed');
      assert.doesNotMatch(w.output(), /token-(one|two)-\d+/, 'the token is never printed');
    } finally {
      await w.stop();
      await two?.stop();
      await one.dispose();
    }
  });

  test('--requeue-rejected puts a refused result back (same resultId); --status counts them; not beside a running worker', async () => {
    const server = await startTestServer();
    const dataDir = tempDir('hive-requeue-');
    const env = {
      ...process.env,
      ...FAST_SETTINGS,
      HIVE_SERVER_URL: server.url,
      HIVE_DATA_DIR: dataDir,
    };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [FIXTURE_ENTRY, ...args], { env, encoding: 'utf8' });
    try {
      // Alone (section 3) or in a batch (1.1-d): either way the server refuses it.
      await server.admin.faults([
        { route: 'result', status: 422, body: '{"error":"schema"}' },
        { route: 'result-entry', status: 422 },
      ]);
      const w = startWorker({ serverUrl: server.url, dataDir });
      let resultId: string;
      try {
        await server.admin.enqueue({ id: 'requeue-1', type: 'echo', payload: { again: true } });
        await w.waitForOutput(/refused the result of task requeue-1 \(HTTP 422\)/);
        await server.admin.clearFaults(); // the rule its send did not use
        const [refused] = jsonFiles(join(dataDir, 'rejected'));
        resultId = refused.body.resultId;
        assert.match(
          cli('--status').stdout,
          /refused +1 result\(s\) in rejected\/ \(worker --requeue-rejected/,
        );
        assert.equal(JSON.parse(cli('--status', '--json').stdout).rejectedSize, 1);
        const beside = cli('--requeue-rejected');
        assert.equal(beside.status, 75, 'the data folder is the running worker’s');
        assert.match(beside.stderr, new RegExp(`pid ${w.child.pid}`));
        assert.equal(jsonFiles(join(dataDir, 'rejected')).length, 1, 'nothing moved');
      } finally {
        await w.stop();
      }
      const requeue = cli('--requeue-rejected');
      assert.equal(requeue.status, 0, requeue.stderr);
      assert.match(requeue.stdout, /^1 refused result\(s\) put back in .*outbox/);
      assert.deepEqual(jsonFiles(join(dataDir, 'rejected')), []);
      const [queued] = jsonFiles(join(dataDir, 'outbox'));
      assert.equal(queued.body.resultId, resultId);
      assert.equal(queued.answer, undefined, 'stored as an outbox entry, not as a refusal');
      // The next start sends it before its first claim.
      const again = startWorker({ serverUrl: server.url, dataDir });
      try {
        const task = await server.admin.waitFor(async () => {
          const view = await server.admin.task('requeue-1');
          return view.results.length > 0 ? view : undefined;
        }, 20_000);
        assert.equal(task.results[0]?.body.resultId, resultId);
        assert.deepEqual(task.results[0]?.body.output, { again: true });
      } finally {
        await again.stop();
      }
      assert.match(cli('--status').stdout, /refused +0 result\(s\) in rejected\/\n/);
    } finally {
      await server.close();
    }
  });
});
