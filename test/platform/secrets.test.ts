/** The token never reaches a log: not the console, not the log file, not a task's log tail. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker } from '../helpers/worker.ts';

const TOKEN = 'tok-5ecret-9f8e7d6c';
let server: TestServer;
before(async () => {
  server = await startTestServer({ token: TOKEN });
});
after(() => server.close());

test('the token is used for every request and appears in no log', async () => {
  await server.admin.enqueue({
    id: 'sec-1',
    type: 'logs',
    payload: { lines: 2, text: `my token is ${TOKEN}` },
  });
  await server.admin.enqueue({
    id: 'sec-2',
    type: 'throws',
    payload: { message: `failed with ${TOKEN}` },
  });
  // A task id holding the token, as a careless server might send: it is bound into the task's
  // child logger (pino serializes bindings once, where no log-call hook sees them).
  await server.admin.enqueue({ id: `sec-3-${TOKEN}`, type: 'echo', payload: 3 });
  // An error answer that echoes the token back, as a confused proxy might.
  await server.admin.faults([{ route: 'claim', status: 500, body: `bad token ${TOKEN}` }]);
  const worker = startWorker({
    serverUrl: server.url,
    env: { HIVE_TOKEN: TOKEN, HIVE_LOG_LEVEL: 'trace' },
  });
  try {
    for (const id of ['sec-2', `sec-3-${TOKEN}`]) {
      await server.admin.waitFor(
        async () => (await server.admin.task(id)).state === 'done',
        20_000,
      );
    }
    const { results } = await server.admin.results();
    const tail = results
      .find((result) => result.taskId === 'sec-1')
      ?.body.logs?.map((line) => line.msg);
    assert.deepEqual(tail, [
      'my token is [redacted] 0',
      'my token is [redacted] 1',
      'from console.log',
    ]);
    await worker.stop();
    const logFile = readFileSync(join(worker.dataDir, 'logs', 'worker.log'), 'utf8');
    assert.match(logFile, /\[redacted\]/, 'the scrubbed lines are there');
    assert.ok(!logFile.includes(TOKEN), 'the token is not in the log file');
    assert.ok(!worker.output().includes(TOKEN), 'the token is not on the console');
    // The server's own task id aside, no result carries the token.
    const bodies = results.map(({ body }) => body);
    assert.ok(!JSON.stringify(bodies).includes(TOKEN), 'the token is not in any result');
    assert.match(logFile, /"taskId":"sec-3-\[redacted\]"/, 'the bound task id is scrubbed');
  } finally {
    await worker.stop();
  }
});

test('a wrong token gets one clear line, and the worker keeps going', async () => {
  const worker = startWorker({ serverUrl: server.url, env: { HIVE_TOKEN: 'wrong-token-123' } });
  try {
    await worker.waitForOutput(/refused our token \(HTTP 403\): check TOKEN \(from HIVE_TOKEN\)/);
    assert.ok(!worker.output().includes('wrong-token-123'));
    assert.equal(worker.child.exitCode, null);
  } finally {
    await worker.stop();
  }
});
