/**
 * src/wire/hive-client.ts against a hostile server on 127.0.0.1, in-process: small answers
 * (heartbeat, version) are capped at 64 KiB, an error's body is kept to its head, a task-bearing
 * answer is read for its known fields, and each request's deadline holds against a server that
 * dribbles a byte at a time (the silence limit never fires).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { HiveClient } from '../../src/wire/hive-client.ts';
import { dribble, startHostileServer } from '../helpers/hostile-server.ts';

const server = await startHostileServer();
const client = new HiveClient({
  serverUrl: server.url,
  token: '',
  workerId: 'w-1',
  userAgent: 'test',
  connectTimeoutMs: 2000,
  requestTimeoutMs: 1000,
  maxErrorSleepMs: 1000,
  tcpKeepAlive: false,
});
after(async () => {
  await client.close();
  await server.close();
});

const claim = { workerId: 'w-1', version: '1.0.0', platform: 'x', tasks: ['echo'], waitSec: 0 };

test('a heartbeat or version answer over 64 KiB is an error, not parsed', async () => {
  const big = JSON.stringify({ cancel: false, junk: 'x'.repeat(70 * 1024) });
  server.handlers.heartbeat = (res) => res.writeHead(200).end(big);
  const beat = await client.sendHeartbeat('t', { workerId: 'w-1' });
  assert.equal(beat.kind, 'error');
  assert.match(beat.kind === 'error' ? beat.error.message : '', /over the 65536-byte limit/);
  server.handlers.version = (res) => res.writeHead(200).end(big);
  const release = await client.getRelease('linux-x64');
  assert.equal(release.kind, 'error');
});

test("an error's 10 MB body: the status counts, its head is kept for the log", async () => {
  server.handlers.result = (res) => res.writeHead(422).end(`refused ${'y'.repeat(10_000_000)}`);
  const answer = await client.sendResult('t', { resultId: 'r', status: 'succeeded', json: '{}' });
  assert.equal(answer.kind, 'refused');
  assert.ok(answer.kind === 'refused' && answer.answer.length <= 2000);
});

test('a claim answer: the task, its payload as bytes, junk and unknown fields never built', async () => {
  const task = { id: 't-1', type: 'echo', payload: { a: [1, 2] }, extra: { deep: [{}] } };
  server.handlers.claim = (res) =>
    res.writeHead(200).end(JSON.stringify({ junk: Array(100_000).fill({}), task }));
  const answer = await client.claimTask(claim);
  assert.equal(answer.kind, 'task');
  if (answer.kind !== 'task') return;
  assert.equal(answer.tasks.length, 1);
  const [claimed] = answer.tasks;
  assert.ok(claimed !== undefined);
  assert.deepEqual(
    { ...claimed, payloadJson: Buffer.concat(claimed.payloadJson ?? []).toString() },
    {
      id: 't-1',
      type: 'echo',
      payload: null,
      attempt: 1,
      force: false,
      payloadJson: '{"a":[1,2]}',
    },
  );
});

test('a dribbled answer fails at its deadline, whatever the silence limit says', async () => {
  server.handlers.claim = (res) => dribble(res, 200, JSON.stringify({ task: { id: 'x' } }), 200);
  const started = performance.now();
  const answer = await client.claimTask(claim);
  const tookMs = performance.now() - started;
  assert.equal(answer.kind, 'error');
  assert.match(
    answer.kind === 'error' ? answer.error.message : '',
    /claim failed: no whole answer within its 1 s deadline/,
  );
  assert.ok(tookMs >= 900 && tookMs < 3000, `took ${tookMs} ms`);
  // A heartbeat's deadline is a third of its lease when that is shorter than REQUEST_TIMEOUT.
  server.handlers.heartbeat = (res) => dribble(res, 200, '{"cancel":false}', 200);
  const beatStarted = performance.now();
  const beat = await client.sendHeartbeat('t', { workerId: 'w-1' }, undefined, 1500);
  assert.match(beat.kind === 'error' ? beat.error.message : '', /within its 0.5 s deadline/);
  assert.ok(performance.now() - beatStarted < 1500);
});

test("the caller's own abort is not called a deadline", async () => {
  server.handlers.claim = (res) => dribble(res, 200, '{"task":{}}', 200);
  const answer = await client.claimTask(claim, AbortSignal.timeout(200));
  assert.equal(answer.kind, 'error');
  assert.doesNotMatch(answer.kind === 'error' ? answer.error.message : '', /deadline/);
});
