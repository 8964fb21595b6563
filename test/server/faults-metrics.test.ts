import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { fakeWorker, resultBody, startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
beforeEach(() => server.admin.clearFaults());
after(() => server.close());

const worker = () => fakeWorker(server.url, { workerId: 'fault-w1' });

test('a fault answers instead of the handler, as often as `times` says', async () => {
  await server.admin.faults([
    {
      route: 'claim',
      status: 503,
      headers: { 'Retry-After': '7' },
      body: '{"error":"busy"}',
      times: 2,
    },
  ]);
  for (let i = 0; i < 2; i += 1) {
    const answer = await worker().claim(['x']);
    assert.equal(answer.status, 503);
    assert.equal(answer.headers.get('retry-after'), '7');
    assert.deepEqual(answer.json, { error: 'busy' });
  }
  assert.equal((await worker().claim(['x'])).status, 204, 'rule used up');
});

test('every row of the claim answer table can be produced', async () => {
  const rows: { status: number; body?: string; headers?: Record<string, string> }[] = [
    { status: 401 },
    { status: 403 },
    { status: 426 },
    { status: 429, headers: { 'retry-after': 'Wed, 21 Oct 2065 07:28:00 GMT' } },
    { status: 500 },
    { status: 200, body: '{"task": ' },
    { status: 200, body: '{"task":{"id":7,"type":"x","payload":null}}' },
  ];
  await server.admin.faults(rows.map((row) => ({ route: 'claim' as const, ...row })));
  for (const row of rows) {
    const answer = await worker().claim(['x']);
    assert.equal(answer.status, row.status);
    if (row.body !== undefined) assert.equal(answer.text, row.body);
    for (const [name, value] of Object.entries(row.headers ?? {}))
      assert.equal(answer.headers.get(name), value);
  }
});

test('times: -1 lasts until cleared; other routes are untouched', async () => {
  await server.admin.faults([{ route: 'heartbeat', status: 410, times: -1 }]);
  for (let i = 0; i < 3; i += 1) assert.equal((await worker().heartbeat('any')).status, 410);
  assert.equal((await worker().claim(['x'])).status, 204);
  await server.admin.clearFaults();
  assert.equal((await worker().heartbeat('any')).status, 404);
});

test('a delay-only fault delays, then the real handler answers', async () => {
  await server.admin.faults([{ route: 'result', delayMs: 200 }]);
  const startedMs = Date.now();
  const answer = await worker().postResult('no-such-task', resultBody());
  assert.equal(answer.status, 404);
  assert.ok(Date.now() - startedMs >= 180);
});

test('dropConnection closes the socket without an answer', async () => {
  await server.admin.faults([{ route: 'claim', dropConnection: true }]);
  await assert.rejects(worker().claim(['x']));
  assert.equal((await worker().claim(['x'])).status, 204);
});

test('fault rules are validated', async () => {
  const post = (body: unknown) =>
    fetch(new URL('admin/faults', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  assert.equal((await post([{ route: 'claim', staus: 500 }])).status, 400, 'a misspelled field');
  assert.equal((await post([{ route: 'everything', status: 500 }])).status, 400);
  assert.equal((await post([{ route: 'claim', times: 0 }])).status, 400);
  assert.equal((await post({ route: 'claim' })).status, 400, 'a list is expected');
  const listed = await (await fetch(new URL('admin/faults', server.url))).json();
  assert.deepEqual(listed, { faults: [] });
});

/** One sample line of the text format: name, optional labels, a value. */
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

test('metrics are Prometheus text format 0.0.4, line by line', async () => {
  await server.admin.enqueue({ id: 'm-1', type: 'metric_type', payload: null });
  assert.equal((await worker().claim(['metric_type'])).status, 200);
  const body = resultBody({
    workerId: 'fault-w1',
    status: 'failed',
    error: { code: 'TASK_ERROR', message: 'x' },
  });
  await worker().postResult('m-1', body);
  await worker().postResult('m-1', body);
  const answer = await fetch(new URL('metrics', server.url));
  assert.equal(answer.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await answer.text();
  assert.ok(text.endsWith('\n'));
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (type?.[1] !== undefined) {
      assert.ok(!typed.has(type[1]), `one TYPE line per family: ${line}`);
      typed.add(type[1]);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const sample = SAMPLE.exec(line);
    assert.ok(sample?.[1] !== undefined, `not a valid line: ${JSON.stringify(line)}`);
    assert.ok(typed.has(sample[1]), `sample before its TYPE: ${line}`);
    samples.set(
      line.slice(0, line.lastIndexOf(' ')),
      Number(line.slice(line.lastIndexOf(' ') + 1)),
    );
  }
  assert.ok((samples.get('hive_server_claims_total{status="200"}') ?? 0) >= 1);
  assert.ok((samples.get('hive_server_claims_total{status="dropped"}') ?? 0) >= 1);
  assert.equal(samples.get('hive_server_tasks{state="done"}'), 1);
  assert.equal(samples.get('hive_server_results_total{status="failed"}'), 1);
  assert.equal(samples.get('hive_server_duplicate_results_total{kind="same_result_id"}'), 1);
  assert.ok((samples.get('hive_server_heartbeats_total{status="410"}') ?? 0) >= 3);
});
