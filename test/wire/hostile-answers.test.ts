/**
 * Hostile answers against the built executable (issue 27, items 1 and 2; docs/reliability.md):
 * a 66 MB claim answer of a valid task plus junk is read without building the junk (a running
 * task's heartbeats keep their schedule, RSS stays bounded, Ctrl+C is prompt), and a server that
 * dribbles a byte at a time holds no request past its deadline — claims, heartbeats and results
 * alike — nor the first claim behind the results queued at start.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { builtWorker } from '../helpers/built-worker.ts';
import {
  dribble,
  type HostileServer,
  startHostileServer,
  taskAnswer,
} from '../helpers/hostile-server.ts';
import {
  type StartWorkerOptions,
  startWorker,
  tempDir,
  type WorkerProcess,
} from '../helpers/worker.ts';

let program: { file: string; args: string[] };
const servers: HostileServer[] = [];
const workers: WorkerProcess[] = [];
before(async () => {
  program = { file: await builtWorker(), args: [] };
});
after(async () => {
  for (const worker of workers) await worker.stop('SIGKILL');
  for (const server of servers) await server.close();
});

async function hostileServer(): Promise<HostileServer> {
  const server = await startHostileServer();
  servers.push(server);
  return server;
}

function worker(options: StartWorkerOptions): WorkerProcess {
  const started = startWorker({ ...options, command: program });
  workers.push(started);
  return started;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Peak resident memory of a live process, in bytes (Linux: VmHWM). */
function peakRssBytes(pid: number): number {
  const line = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1]) * 1024;
}

/** The largest gap between a task's heartbeats, from its claim on (ms). */
function largestBeatGapMs(beats: number[], fromMs: number): number {
  let last = fromMs;
  let largest = 0;
  for (const at of beats) {
    largest = Math.max(largest, at - last);
    last = at;
  }
  return largest;
}

test('a 66 MB claim answer of a task plus junk: heartbeats on time, RSS bounded, Ctrl+C prompt', async () => {
  const server = await hostileServer();
  const head = Buffer.from('{"task":{"id":"t-junk","type":"echo","payload":{"a":1}},"junk":[');
  const junk = Buffer.alloc(Math.floor((66_000_000 - head.length - 4) / 3) * 3, '{},');
  const tail = Buffer.from('{}]}');
  const junkAnswer = (res: import('node:http').ServerResponse, then?: () => void) => {
    res.writeHead(200, {
      ...JSON_HEADERS,
      'content-length': String(head.length + junk.length + tail.length),
    });
    res.write(head);
    res.write(junk);
    res.end(tail, then);
  };
  let interruptedAt: number | undefined;
  const runningTask = { id: 't-run', type: 'sleep', payload: { ms: 9000 }, leaseSec: 6 };
  server.handlers.claim = (res, _request, n) => {
    if (n === 1) res.writeHead(200, JSON_HEADERS).end(taskAnswer(runningTask));
    // Each junk answer comes between two of t-run's beats (due every 2 s).
    else if (n === 2) setTimeout(() => junkAnswer(res), 1500);
    else if (n === 3) {
      setTimeout(() => {
        junkAnswer(res, () => {
          interruptedAt = performance.now();
          running.child.kill('SIGINT');
        });
      }, 3000);
    } else res.writeHead(204).end();
  };
  const running = worker({
    serverUrl: server.url,
    env: { HIVE_CONCURRENCY: '2', HIVE_SHUTDOWN_GRACE: '30', HIVE_REQUEST_TIMEOUT: '20' },
  });
  // The junk answer's task ran: the answer was read, the junk skipped.
  await server.waitFor('result', 1, 30_000, 't-junk');
  const resultOf = server.seen.find((one) => one.route === 'result' && one.taskId === 't-junk');
  assert.equal(JSON.parse(resultOf?.body ?? '{}').status, 'succeeded');
  // Ctrl+C as the second junk answer arrives: the worker says it is stopping at once.
  await running.waitForOutput(/waiting up to 30 s for the running task/, 20_000);
  const reactedMs = performance.now() - (interruptedAt ?? Number.NaN);
  const peak = peakRssBytes(running.child.pid as number);
  running.child.kill('SIGINT'); // a second Ctrl+C: stop the sleeping task now
  await running.exitedWithin(15_000);
  const claimedAt = server.seen.find((one) => one.route === 'claim')?.atMs ?? 0;
  const beats = server.seen
    .filter((one) => one.route === 'heartbeat' && one.taskId === 't-run')
    .map((one) => one.atMs);
  assert.ok(beats.length >= 2, `t-run beat ${beats.length} times`);
  // Due every 2 s (leaseSec 6): never near the lease, even while 66 MB answers were read.
  const gap = largestBeatGapMs(beats, claimedAt);
  assert.ok(gap < 4000, `largest heartbeat gap ${gap} ms`);
  assert.ok(reactedMs < 3000, `Ctrl+C answered after ${reactedMs} ms`);
  // Two 66 MB answers read: their bytes, once each at most, not a heap of objects.
  assert.ok(peak < 400 * 1024 * 1024, `peak RSS ${peak} bytes`);
  console.log(
    `junk answers: largest beat gap ${Math.round(gap)} ms, Ctrl+C ${Math.round(reactedMs)} ms, peak RSS ${Math.round(peak / 1048576)} MiB`,
  );
});

test('a server dribbling a byte a second: claim, heartbeat and result each fail at their deadline, and the worker goes on', async () => {
  const server = await hostileServer();
  const beating = { id: 't-beat', type: 'sleep', payload: { ms: 7000 }, leaseSec: 3 };
  server.handlers.claim = (res, _request, n) => {
    if (n === 1) res.writeHead(200, JSON_HEADERS).end(taskAnswer(beating));
    else if (n === 2)
      dribble(res, 200, taskAnswer({ id: 't-never', type: 'echo', payload: {} }), 700);
    else res.writeHead(204).end();
  };
  server.handlers.heartbeat = (res, _request, n) => {
    if (n === 2) dribble(res, 200, '{"cancel":false,"leaseSec":3}', 700);
    else res.writeHead(200, JSON_HEADERS).end('{"cancel":false}');
  };
  server.handlers.result = (res, _request, n) => {
    if (n === 1) dribble(res, 200, '{"accepted":true,"padding":"........"}', 700);
    else res.writeHead(200, JSON_HEADERS).end('{}');
  };
  const running = worker({
    serverUrl: server.url,
    env: { HIVE_CONCURRENCY: '2', HIVE_REQUEST_TIMEOUT: '2' },
  });
  await server.waitFor('result', 2, 30_000, 't-beat');
  await running.stop();
  const output = running.output();
  assert.match(output, /claim failed: no whole answer within its 2 s deadline/);
  assert.match(
    output,
    /heartbeat not delivered.*heartbeat failed: no whole answer within its 1 s deadline/,
  );
  assert.match(output, /result failed: no whole answer within its 2(\.\d)? s deadline/);
  // The worker claimed again after the held claim; the result went again with the same key.
  assert.ok(server.count('claim') >= 3, `claims: ${server.count('claim')}`);
  const keys = server.seen
    .filter((one) => one.route === 'result')
    .map((one) => one.headers['idempotency-key']);
  assert.equal(new Set(keys).size, 1, 'the same resultId');
  // t-beat's heartbeats kept going while a claim and one of its own beats were held.
  const claimedAt = server.seen.find((one) => one.route === 'claim')?.atMs ?? 0;
  const beats = server.seen
    .filter((one) => one.route === 'heartbeat' && one.taskId === 't-beat')
    .map((one) => one.atMs);
  assert.ok(beats.length >= 4, `t-beat beat ${beats.length} times`);
  const gap = largestBeatGapMs(beats, claimedAt);
  assert.ok(gap < 2900, `largest heartbeat gap ${gap} ms (lease 3 s)`);
});

test('results queued at start, to a server that holds them: the first claim still goes out', async () => {
  const server = await hostileServer();
  server.handlers.claim = (res, _request, n) => {
    if (n === 1)
      res.writeHead(200, JSON_HEADERS).end(taskAnswer({ id: 't-q', type: 'echo', payload: {} }));
    else res.writeHead(204).end();
  };
  server.handlers.result = (res) =>
    dribble(res, 200, '{"held":"..............................."}', 700);
  const dataDir = tempDir('hive-worker-');
  const settings = { HIVE_REQUEST_TIMEOUT: '2', HIVE_SHUTDOWN_GRACE: '1' };
  const first = worker({ serverUrl: server.url, dataDir, env: settings });
  await first.waitForOutput(/result failed: no whole answer within/, 20_000);
  await first.stop();
  const claimsBefore = server.count('claim');
  const startedAt = performance.now();
  const second = worker({ serverUrl: server.url, dataDir, env: settings });
  await server.waitFor('claim', claimsBefore + 1, 15_000);
  const tookMs = performance.now() - startedAt;
  await second.stop();
  assert.match(second.output(), /sending 1 queued result\(s\) before claiming/);
  // One result deadline (2 s) plus start-up, not forever.
  assert.ok(tookMs < 8000, `first claim after ${tookMs} ms`);
});
