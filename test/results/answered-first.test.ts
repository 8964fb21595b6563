/**
 * A result the server answers first gets no outbox file (docs/reliability.md, "No outbox file for
 * a result the server already has"), on real parts: a real worker, its task processes and the
 * reference server; outbox/ watched (inotify) for every file that appears in it. And the hostile
 * counterpart: a server slow to answer, whose every result must be on disk before it has it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server.close();
});

/** The results (by resultId) whose file ever appeared in `dataDir`'s outbox/, while watched. */
function watchOutbox(dataDir: string) {
  const dir = join(dataDir, 'outbox');
  mkdirSync(dir, { recursive: true });
  const results = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (name?.endsWith('.json')) results.add(name.replace(/\.json$/, ''));
  });
  return { results, close: () => watcher.close() };
}

/** `count` echo tasks, enqueued before the worker starts; resolves once each has its result. */
async function runTasks(prefix: string, count: number, env: Record<string, string> = {}) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) await server.admin.enqueue({ id, type: 'echo', payload: id });
  const dataDir = tempDir();
  const outbox = watchOutbox(dataDir);
  const w = startWorker({
    serverUrl: server.url,
    dataDir,
    env: { HIVE_TASKS_PER_PROCESS: '1000', ...env },
  });
  try {
    for (const id of ids) {
      await server.admin.waitFor(async () => {
        const task = await server.admin.task(id);
        return task.results.length > 0 ? task : undefined;
      }, 30_000);
    }
    // Every result answered: its files settle (outbox/ empties, done/ fills) just after.
    await server.admin.waitFor(
      () => readdirSync(join(dataDir, 'done')).length === count || undefined,
      10_000,
    );
  } finally {
    await w.stop();
    outbox.close();
  }
  for (const id of ids) assert.equal((await server.admin.task(id)).results.length, 1, id);
  assert.deepEqual(readdirSync(join(dataDir, 'outbox')), [], 'nothing left unsent');
  assert.deepEqual(readdirSync(join(dataDir, 'corrupt')), []);
  return { throughOutbox: outbox.results.size };
}

describe('a result the server answers first gets no outbox file', () => {
  test('a server answering within RESULT_ANSWER_WAIT: once that is known, results skip outbox/', async () => {
    // 0.2 s: well above this test's answers (5–20 ms from a worker run from source, cold), so
    // that the figure does not hang on a loaded machine's timing (the default is 5 ms).
    const { throughOutbox } = await runTasks('quick', 40, { HIVE_RESULT_ANSWER_WAIT: '0.2' });
    // The first ones go through outbox/: no answers seen yet, so no wait.
    assert.ok(throughOutbox < 20, `${throughOutbox} of 40 results went through outbox/`);
  });

  test('RESULT_ANSWER_WAIT 0: every result written to outbox/, however quick the server', async () => {
    const { throughOutbox } = await runTasks('never', 12, { HIVE_RESULT_ANSWER_WAIT: '0' });
    assert.equal(throughOutbox, 12);
  });

  test('a server slower to answer than the wait: every result is in outbox/ before the server has it', async () => {
    await server.admin.faults([{ route: 'results', delayMs: 50, times: -1 }]);
    try {
      const { throughOutbox } = await runTasks('slow', 12, { HIVE_RESULT_ANSWER_WAIT: '0.02' });
      assert.equal(throughOutbox, 12, 'each result written to outbox/ (and fsynced) first');
    } finally {
      await server.admin.clearFaults();
    }
  });
});
