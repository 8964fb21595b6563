/**
 * A worker of the previous release (the last protocol-1 commit, run from its own source with this
 * checkout's node and node_modules) against the 1.1 server: it ignores X-Hive-Protocol, never
 * sees a 1.1 answer, runs every task once and every result is taken. CI clones with full
 * history; a checkout without that commit fails here with how to get it, rather than skipping.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  fakeWorker,
  startTestServer,
  statusSummary,
  type TestServer,
  waitForResults,
} from '../helpers/server.ts';
import { startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

/** The last commit whose worker speaks protocol version 1 only. */
const LAST_V1_COMMIT = '99b818b';
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** That commit's tree in a temporary folder, sharing this checkout's node_modules. */
function checkOutPreviousRelease(): string {
  try {
    execFileSync('git', ['-C', REPO_ROOT, 'cat-file', '-e', `${LAST_V1_COMMIT}^{commit}`], {
      stdio: 'ignore',
    });
  } catch (error) {
    throw new Error(
      `commit ${LAST_V1_COMMIT} (the last protocol-1 worker) is not in this clone; this test needs the full history: run \`git fetch --unshallow\` (or clone without --depth)`,
      { cause: error },
    );
  }
  const dir = tempDir('hive-previous-worker-');
  const tar = join(dir, 'tree.tar');
  execFileSync('git', ['-C', REPO_ROOT, 'archive', '-o', tar, LAST_V1_COMMIT]);
  execFileSync('tar', ['-xf', tar, '-C', dir]);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

let server: TestServer;
let previousWorker: WorkerProcess;
before(async () => {
  server = await startTestServer();
  const tree = checkOutPreviousRelease();
  previousWorker = startWorker({
    serverUrl: server.url,
    command: { file: process.execPath, args: [join(tree, 'src', 'main.ts')] },
  });
});
after(async () => {
  await previousWorker.stop();
  await server.close();
});

test('a worker of the previous release runs every task once against the 1.1 server', async () => {
  const claim = await fakeWorker(server.url).claim(['none']);
  assert.equal(claim.headers.get('x-hive-protocol'), '1.1', 'the server speaks 1.1');
  const ids = Array.from({ length: 8 }, (_, i) => `prev-${i}`);
  for (const id of ids) await server.admin.enqueue({ id, type: 'echo', payload: { id } });

  const results = await waitForResults(server.admin, 'prev-', ids.length, 30_000);
  assert.deepEqual(
    statusSummary(results),
    Object.fromEntries(ids.map((id) => [id, 'succeeded/-'])),
  );
  for (const result of results) {
    assert.deepEqual(result.body.output, { id: result.taskId });
    assert.equal(result.body.attempt, 1);
    assert.equal(result.body.workerVersion, '1.0.0');
  }
  const { duplicates } = await server.admin.results();
  assert.equal(duplicates, 0, 'no result sent twice');
  for (const task of await server.admin.tasks()) {
    if (!task.id.startsWith('prev-')) continue;
    assert.equal(task.state, 'done');
    assert.equal(task.deliveries.length, 1, `${task.id} delivered once`);
  }
  const metrics = await (await fetch(new URL('metrics', server.url))).text();
  assert.doesNotMatch(metrics, /hive_server_result_batches_total\{/, 'no 1.1 request was made');
  assert.doesNotMatch(metrics, /hive_server_releases_total\{/);

  const exit = await previousWorker.stop('SIGTERM');
  assert.equal(exit.code, 0, previousWorker.output());
});
