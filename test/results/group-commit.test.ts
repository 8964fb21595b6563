/**
 * Group commit on real parts (docs/reliability.md, "Group commit"): results handed over together
 * share their outbox folder's fsync and go in one batch to the reference server speaking 1.1; a
 * kill -9 of a real worker while a group of results is written and sent loses nothing and stores
 * each once.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/platform/log.ts';
import type { HiveClient } from '../../src/wire/hive-client.ts';
import { startDelivery } from '../helpers/delivery.ts';
import { encoded, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

let server: TestServer;
const clients: HiveClient[] = [];
before(async () => {
  server = await startTestServer();
});
after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await server.close();
});

const log = createLogger({ level: 'silent', secrets: [] });

/** A worker's outbox and delivery on `dataDir`, counting the fsyncs of its result files. */
function start(dataDir: string) {
  const fsyncs = { file: 0, folder: 0 };
  const fsynced = (what: 'file' | 'folder') => {
    fsyncs[what] += 1;
  };
  const { delivery, client } = startDelivery({
    serverUrl: server.url,
    dataDir,
    log,
    maxEntries: 100,
    requestTimeoutMs: 5000,
    fsynced,
  });
  clients.push(client);
  return { delivery, fsyncs };
}

/** The server's count of batch POSTs it answered 200 (its metrics). */
async function batchesTaken(): Promise<number> {
  const text = await (await fetch(new URL('metrics', server.url))).text();
  const line = text.split('\n').find((l) => l.startsWith('hive_server_result_batches_total{'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

describe('group commit', () => {
  test('results handed over together: one folder fsync for the group, one batch request', async () => {
    const { delivery, fsyncs } = start(tempDir());
    // A first result, alone: its answer tells the client that the server speaks 1.1.
    await server.admin.enqueue({ id: 'group-0', type: 'echo', payload: 0 });
    assert.equal(await delivery.submit('group-0', encoded(resultBody())).delivered, 'delivered');
    assert.deepEqual(fsyncs, { file: 1, folder: 1 }, 'a lone result: its own fsyncs, no wait');
    const batchesBefore = await batchesTaken();
    const ids = Array.from({ length: 8 }, (_, i) => `group-${i + 1}`);
    for (const id of ids) await server.admin.enqueue({ id, type: 'echo', payload: id });
    // Eight results finishing together: handed over in one turn of the event loop.
    const journeys = ids.map((id) => delivery.submit(id, encoded(resultBody())));
    const outcomes = await Promise.all(journeys.map((journey) => journey.delivered));
    assert.deepEqual(new Set(outcomes), new Set(['delivered']));
    for (const id of ids) assert.equal((await server.admin.task(id)).results.length, 1, id);
    const folder = fsyncs.folder - 1;
    const file = fsyncs.file - 1;
    assert.equal(file, 8, "each result's file fsynced (whole after a power cut)");
    // The eight writes finish in waves on libuv's 4 threads; each commit takes the renames done
    // while the one before ran, so a loaded machine sees 3 (which commit takes which rename is
    // the unit test's: group-commit.unit.test.ts).
    assert.ok(
      folder >= 1 && folder <= ids.length / 2,
      `the folder fsynced a few times for the group, not once per result: ${folder}`,
    );
    assert.ok(file + folder < 2 * ids.length, 'fewer fsyncs than the two each had alone');
    assert.equal((await batchesTaken()) - batchesBefore, 1, 'the group went in one batch');
    await delivery.settled();
  });

  test('kill -9 while a group of results is written and sent: each task stored once, none lost', async () => {
    const ids = ['kill-group-a', 'kill-group-b', 'kill-group-c', 'kill-group-d'];
    // Their answer held: the kill comes while the group's batch is out, its files being written.
    await server.admin.faults([{ route: 'results', delayMs: 3000 }]);
    const w = startWorker({ serverUrl: server.url, env: { HIVE_CONCURRENCY: '4' } });
    try {
      for (const id of ids)
        await server.admin.enqueue({ id, type: 'sleep', payload: { ms: 300 }, leaseSec: 2 });
      await w.waitForOutput(/task kill-group-\w succeeded/);
    } finally {
      await w.stop('SIGKILL');
    }
    await server.admin.clearFaults();
    const again = startWorker({ serverUrl: server.url, dataDir: w.dataDir });
    try {
      for (const id of ids) {
        const task = await server.admin.waitFor(async () => {
          const one = await server.admin.task(id);
          return one.resultId !== null ? one : undefined;
        }, 30_000);
        assert.equal(task.results.length, 1, `${id} stored once`);
      }
      await server.admin.waitFor(
        () => readdirSync(join(w.dataDir, 'outbox')).length === 0 || undefined,
        10_000,
      );
      assert.deepEqual(readdirSync(join(w.dataDir, 'corrupt')), [], 'no torn file');
    } finally {
      await again.stop();
    }
  });
});
