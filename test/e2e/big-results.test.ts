/**
 * Big results on their whole journey, on the real worker (fixture entry) against a server that
 * records every request's bytes: a task's 8 MiB output reaches the server as the very JSON text
 * the task's value makes, MAX_RESULT_BYTES still refuses a bigger one, a re-delivered task is
 * answered with the same bytes (from memory and from disk after a restart), and a kill -9 while
 * the outbox copy is composed, just after, or while the POST streams it, loses nothing. Big
 * outputs leave the task process through a spool file (src/task/spool.ts): one that lies about
 * that file's size is held to MAX_RESULT_BYTES all the same. An outbox file of the layout from
 * before is still sent as its very text. And, on the reference server, a task with a payload of
 * several MiB runs in a real task process and its result comes back whole.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { bigOutput } from '../fixtures/tasks.ts';
import { type ScriptedServer, startScriptedServer } from '../helpers/scripted-server.ts';
import { startTestServer } from '../helpers/server.ts';
import { startWorker, tempDir, type WorkerProcess } from '../helpers/worker.ts';

const MiB = 1024 * 1024;
/** MAX_RESULT_BYTES's default (src/config.ts): the biggest output a task may return. */
const MAX_RESULT_BYTES = 8 * MiB;
const UNDER = MAX_RESULT_BYTES - 64 * 1024;

function claim(id: string, bytes: number, type = 'big', payload: unknown = { bytes }) {
  const task = { id, type, payload, leaseSec: 60, timeoutSec: 120 };
  return { status: 200, body: JSON.stringify({ task }) };
}

/** The result requests for a task, in order: body text and Idempotency-Key. */
function results(server: ScriptedServer, taskId: string): Array<{ body: string; key: string }> {
  return server.requests
    .filter((r) => r.route === 'result' && r.path === `/api/tasks/${taskId}/result`)
    .map((r) => ({ body: r.body, key: String(r.headers['idempotency-key']) }));
}

async function until(what: string, check: () => boolean, w: WorkerProcess, ms = 120_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; output:\n${w.output()}`);
    await delay(50);
  }
}

/** The output's text inside a result body, checked to be where the body says it is. */
function outputText(body: string, expected: string): void {
  const at = body.indexOf('"output":') + '"output":'.length;
  assert.ok(at > 9, 'the body has an output');
  assert.equal(body.length - at > expected.length, true, 'the body holds the whole output');
  assert.ok(body.startsWith(expected, at), 'the output is the task value, byte for byte');
  assert.equal(body[at + expected.length], ',', 'and nothing else');
}

describe('big results', { timeout: 300_000 }, () => {
  let server: ScriptedServer;
  const expected = JSON.stringify(bigOutput(UNDER));
  before(async () => {
    server = await startScriptedServer();
  });
  after(async () => {
    await server?.close();
  });

  test('an 8 MiB result reaches the server byte-identical; a re-delivery re-sends the same bytes', async () => {
    assert.ok(Buffer.byteLength(expected) > 8 * MiB - 128 * 1024, 'about 8 MiB of JSON');
    const dataDir = tempDir();
    server.script.claim.push(claim('big-1', UNDER));
    let w = startWorker({ serverUrl: server.url, dataDir });
    try {
      await until('its result', () => results(server, 'big-1').length >= 1, w);
      // Delivered again once the server has it: sent again. (A re-delivery that comes before the
      // first POST went out is answered by that POST: the server gets it after asking again.)
      server.script.claim.push(claim('big-1', UNDER));
      await until('two results', () => results(server, 'big-1').length >= 2, w);
      const [first, again] = results(server, 'big-1');
      assert.ok(first !== undefined && again !== undefined);
      outputText(first.body, expected);
      assert.equal(JSON.parse(first.body).status, 'succeeded');
      assert.equal(again.body, first.body, 'the re-delivery: the same bytes');
      assert.equal(again.key, first.key, 'and the same resultId');
      assert.equal(w.output().match(/claimed task big-1/g)?.length, 1, 'ran once');
      await w.stop();
      // From disk (done/), after a restart: still the same bytes.
      server.script.claim.push(claim('big-1', UNDER));
      w = startWorker({ serverUrl: server.url, dataDir });
      await until('a third result', () => results(server, 'big-1').length >= 3, w);
      assert.equal(results(server, 'big-1')[2]?.body, first.body, 'the same bytes after a restart');
      assert.doesNotMatch(w.output(), /claimed task big-1/, 'not run again');
      assert.deepEqual(readdirSync(join(dataDir, 'spool')), [], 'its spooled output is gone');
    } finally {
      await w.stop();
    }
  });

  test('MAX_RESULT_BYTES still refuses a bigger output: failed, TASK_ERROR', async () => {
    server.script.claim.push(claim('big-over', MAX_RESULT_BYTES + 64 * 1024));
    const w = startWorker({ serverUrl: server.url });
    try {
      await until('its result', () => results(server, 'big-over').length >= 1, w);
      const body = JSON.parse(results(server, 'big-over')[0]?.body ?? '{}');
      assert.equal(body.status, 'failed');
      assert.equal(body.output, null);
      assert.equal(body.error.code, 'TASK_ERROR');
      assert.match(body.error.message, /over MAX_RESULT_BYTES \(8388608\)/);
    } finally {
      await w.stop();
    }
  });

  for (const moment of ['while its outbox copy is written', 'once it is written'] as const) {
    test(`kill -9 ${moment}: nothing is lost, nothing corrupt`, async () => {
      const id = moment.startsWith('while') ? 'cut-mid' : 'cut-after';
      const dataDir = tempDir();
      // The server cannot take results for now: the outbox copy is the result's only keeping.
      server.script.result.push(...Array.from({ length: 50 }, () => ({ status: 503 })));
      server.script.claim.push(claim(id, UNDER));
      // Watched before the worker starts, so that the first write is seen (its folder is made
      // the same way the worker makes it).
      const outbox = join(dataDir, 'outbox');
      mkdirSync(outbox, { recursive: true });
      const wanted = moment.startsWith('while') ? /\.tmp$/ : /\.json$/;
      const w = startWorker({ serverUrl: server.url, dataDir });
      const watcher = watch(outbox, (_event, name) => {
        if (name !== null && wanted.test(name)) w.child.kill('SIGKILL');
      });
      try {
        const { signal } = await w.exitedWithin(120_000);
        assert.equal(signal, 'SIGKILL');
      } finally {
        watcher.close();
        w.child.kill('SIGKILL');
      }
      const left = readdirSync(outbox);
      const whole = left.filter((name) => name.endsWith('.json'));
      for (const name of whole) outputText(readFileSync(join(outbox, name), 'utf8'), expected);
      const sentBefore = results(server, id).length;
      const kept = whole.map((name) => name.replace(/\.json$/, ''));
      console.log(`kill -9 ${moment}: outbox held ${JSON.stringify(left)}`);

      // Back up; the server takes results again and, having no result, hands the task out again.
      server.script.result.length = 0;
      server.script.claim.push(claim(id, UNDER));
      const next = startWorker({ serverUrl: server.url, dataDir });
      try {
        await until('a result taken', () => results(server, id).length > sentBefore, next);
        await until('an empty outbox', () => readdirSync(outbox).length === 0, next);
        const after = results(server, id).slice(sentBefore);
        assert.ok(after.length > 0);
        for (const r of after) outputText(r.body, expected);
        if (kept.length > 0) {
          // Sent from its file before the first claim: the resultId it was kept under.
          assert.equal(after[0]?.key, kept[0], 'the kept result, with its resultId');
        }
        assert.equal(
          existsSync(join(dataDir, 'corrupt')) && readdirSync(join(dataDir, 'corrupt')).length,
          0,
        );
      } finally {
        await next.stop();
      }
    });
  }

  test('a task process that lies about its spooled output: the file’s own size counts', async () => {
    const bytes = MAX_RESULT_BYTES + 64 * 1024;
    server.script.claim.push(claim('liar', 0, 'lies', { bytes, claims: 100 }));
    const dataDir = tempDir();
    const w = startWorker({ serverUrl: server.url, dataDir });
    try {
      await until('its result', () => results(server, 'liar').length >= 1, w);
      const body = JSON.parse(results(server, 'liar')[0]?.body ?? '{}');
      assert.equal(body.status, 'failed');
      assert.equal(body.output, null);
      assert.equal(body.error.code, 'TASK_ERROR');
      assert.match(
        body.error.message,
        new RegExp(`is ${bytes} bytes of JSON, over MAX_RESULT_BYTES`),
      );
      await until(
        'its spool file removed',
        () => readdirSync(join(dataDir, 'spool')).length === 0,
        w,
      );
    } finally {
      await w.stop();
    }
  });

  test('a payload that is not JSON, small or big: rejected/BAD_PAYLOAD, and the worker goes on', async () => {
    const big = `{"a":tru,"pad":"${'p'.repeat(1024 * 1024)}"}`; // over IPC's share: through a file
    for (const [id, payload] of [
      ['bad-small', '{"a":tru}'],
      ['bad-big', big],
    ] as const) {
      const task = `{"task":{"id":"${id}","type":"echo","payload":${payload},"leaseSec":60}}`;
      server.script.claim.push({ status: 200, body: task });
    }
    const dataDir = tempDir();
    const w = startWorker({ serverUrl: server.url, dataDir });
    try {
      for (const id of ['bad-small', 'bad-big']) {
        await until(`${id}'s result`, () => results(server, id).length >= 1, w);
        const body = JSON.parse(results(server, id)[0]?.body ?? '{}');
        assert.equal(body.status, 'rejected', id);
        assert.equal(body.error.code, 'BAD_PAYLOAD', id);
        assert.match(body.error.message, /the payload is not JSON/);
      }
      await until(
        'no payload file left',
        () => readdirSync(join(dataDir, 'spool')).length === 0,
        w,
      );
      assert.equal(w.child.exitCode, null, 'still running');
    } finally {
      await w.stop();
    }
  });

  test('a big outbox file of the layout from before (its body not last) is sent as its very text', async () => {
    const dataDir = tempDir();
    const resultId = 'cccccccc-0000-4000-8000-000000000000';
    const output = bigOutput(2 * MiB);
    const at = new Date().toISOString();
    const body = {
      workerId: 'old-host-00000000',
      resultId,
      workerVersion: '0.9.0',
      status: 'succeeded',
      output,
      error: null,
      attempt: 1,
      startedAt: at,
      finishedAt: at,
    };
    mkdirSync(join(dataDir, 'outbox'), { recursive: true });
    const old = { taskId: 'old-big', body, storedAt: at };
    writeFileSync(join(dataDir, 'outbox', `${resultId}.json`), JSON.stringify(old));
    const w = startWorker({ serverUrl: server.url, dataDir });
    try {
      await until('its result', () => results(server, 'old-big').length >= 1, w);
      const [sent] = results(server, 'old-big');
      assert.equal(sent?.body, JSON.stringify(body), 'the text it was written from');
      assert.equal(sent?.key, resultId);
      await until('an empty outbox', () => readdirSync(join(dataDir, 'outbox')).length === 0, w);
    } finally {
      await w.stop();
    }
  });

  test('kill -9 while the POST streams a big result: one resultId, sent whole after the restart', async () => {
    const id = 'cut-post';
    const dataDir = tempDir();
    server.script.claim.push(claim(id, UNDER));
    const w = startWorker({ serverUrl: server.url, dataDir });
    server.onArrival = (route) => {
      if (route === 'result') w.child.kill('SIGKILL');
    };
    try {
      const { signal } = await w.exitedWithin(120_000);
      assert.equal(signal, 'SIGKILL');
    } finally {
      server.onArrival = undefined;
      w.child.kill('SIGKILL');
    }
    const kept = readdirSync(join(dataDir, 'outbox')).filter((name) => name.endsWith('.json'));
    assert.equal(kept.length, 1, 'its outbox file was whole before the POST began');
    const next = startWorker({ serverUrl: server.url, dataDir });
    try {
      await until('a result taken', () => results(server, id).length >= 1, next);
      await until('an empty outbox', () => readdirSync(join(dataDir, 'outbox')).length === 0, next);
      const sent = results(server, id);
      for (const r of sent) {
        outputText(r.body, expected);
        assert.equal(`${r.key}.json`, kept[0], 'the resultId it was kept under');
      }
      assert.doesNotMatch(next.output(), new RegExp(`claimed task ${id}`), 'not run again');
    } finally {
      await next.stop();
    }
  });
});

describe('a big payload and result on the reference server', { timeout: 120_000 }, () => {
  test('a payload of several MiB runs in a real task process and comes back whole', async () => {
    const server = await startTestServer();
    const payload = { text: 'é𝄞"\\'.repeat(600_000), n: [1, 2, 3] };
    assert.ok(Buffer.byteLength(JSON.stringify(payload)) > 5 * MiB, 'several MiB of JSON');
    const w = startWorker({ serverUrl: server.url });
    try {
      await server.admin.enqueue({ id: 'big-payload', type: 'echo', payload });
      const stored = await server.admin.waitFor(
        async () => (await server.admin.task('big-payload')).results[0],
        60_000,
      );
      assert.equal(stored.body.status, 'succeeded');
      assert.deepEqual(stored.body.output, payload, 'the payload, whole, as the output');
      assert.equal(stored.duplicates, 0);
    } finally {
      await w.stop();
      await server.close();
    }
  });
});
