import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TaskContext } from '../../src/task/define.ts';
import { taskNetwork } from '../../src/task/network.ts';
import { type PromParsOutput, prom_pars } from '../../tasks/prom_pars.ts';

const EXPOSITION = [
  '# HELP http_requests_total Requests.',
  '# TYPE http_requests_total counter',
  'http_requests_total{code="200"} 1027',
  'http_requests_total{code="500"} 3',
  '# TYPE up gauge',
  'up 1',
  'temperature NaN',
  '',
].join('\n');

function fakeContext(signal: AbortSignal = new AbortController().signal) {
  const logs: string[] = [];
  const progress: number[] = [];
  const log = (msg: string) => {
    logs.push(msg);
  };
  const ctx: TaskContext = {
    signal,
    log: { debug: log, info: log, warn: log, error: log },
    progress(percent) {
      progress.push(percent);
    },
    taskId: 'task-1',
    attempt: 1,
    network: taskNetwork('loopback'),
  };
  return { ctx, logs, progress };
}

/** Validates `raw` with the task's schema, then runs the task, as the child does. */
async function runTask(raw: unknown, ctx = fakeContext().ctx): Promise<PromParsOutput> {
  return (await prom_pars.run(prom_pars.payload.parse(raw), ctx)) as PromParsOutput;
}

describe('prom_pars payload', () => {
  it('accepts {url} and {text}, with their options', () => {
    for (const payload of [
      { url: 'http://127.0.0.1:9100/metrics' },
      {
        url: 'https://example.com/metrics',
        headers: { authorization: 'Bearer x' },
        timeoutMs: 500,
        maxBytes: 1024,
        families: ['up'],
      },
      { text: 'up 1\n' },
      { text: '', families: [] },
    ]) {
      assert.equal(prom_pars.payload.safeParse(payload).success, true, JSON.stringify(payload));
    }
  });

  it('rejects {}, {url: 1} and the other malformed payloads with a clear message', () => {
    const cases: [unknown, RegExp][] = [
      [{}, /exactly one of `url` .* or `text`/],
      [{ url: 1 }, /^url: expected an http:\/\/ or https:\/\/ URL/],
      [{ url: 'http://a/m', text: 'up 1\n' }, /exactly one of `url`/],
      [{ url: 'ftp://a/metrics' }, /http:\/\/ or https:\/\//],
      [{ url: 'not a url' }, /http:\/\/ or https:\/\//],
      [{ text: 'up 1\n', headers: { a: 'b' } }, /only apply with `url`/],
      [{ text: 'up 1\n', extra: true }, /extra/],
      [{ url: 'http://a/m', timeoutMs: 0 }, /timeoutMs/],
      [{ text: 'x', families: 'up' }, /families/],
    ];
    for (const [payload, message] of cases) {
      const result = prom_pars.payload.safeParse(payload);
      assert.equal(result.success, false, JSON.stringify(payload));
      const text =
        result.error?.issues
          .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
          .join('; ') ?? '';
      assert.match(text, message, JSON.stringify(payload));
    }
  });
});

describe('prom_pars run with {text}', () => {
  it('returns the families, the sample count and the byte size', async () => {
    const output = await runTask({ text: EXPOSITION });
    assert.equal(output.sampleCount, 4);
    assert.equal(output.bytes, Buffer.byteLength(EXPOSITION));
    assert.deepEqual(
      output.families.map(({ name, type, help }) => [name, type, help]),
      [
        ['http_requests_total', 'counter', 'Requests.'],
        ['up', 'gauge', ''],
        ['temperature', 'untyped', ''],
      ],
    );
    assert.equal(output.families[2]?.samples[0]?.value, 'NaN');
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(output)));
  });

  it('filters families and warns about names it did not find', async () => {
    const { ctx, logs } = fakeContext();
    const output = await runTask({ text: EXPOSITION, families: ['up', 'nope'] }, ctx);
    assert.deepEqual(
      output.families.map((family) => family.name),
      ['up'],
    );
    assert.equal(output.sampleCount, 1);
    assert.ok(logs.some((line) => line.includes('no family named "nope"')));
  });

  it('fails on a malformed exposition, naming the line', async () => {
    await assert.rejects(
      runTask({ text: 'up 1\nup{code 1\n' }),
      /line 2: expected '=' after label name "code"/,
    );
  });
});

describe('prom_pars run with {url}', () => {
  let server: Server;
  let base = '';
  const accepts: (string | undefined)[] = [];

  before(async () => {
    server = createServer(route);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  function route(request: IncomingMessage, response: ServerResponse): void {
    accepts.push(request.headers.accept);
    switch (request.url) {
      case '/metrics':
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(EXPOSITION);
        return;
      case '/big':
        // 64 KiB in 1 KiB chunks and no Content-Length: the limit must be enforced while reading.
        response.writeHead(200);
        for (let chunk = 0; chunk < 64; chunk++) response.write(`${'x'.repeat(1023)}\n`);
        response.end();
        return;
      case '/big-declared':
        response.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
        response.write('up 1\n');
        return;
      case '/hang':
        response.writeHead(200);
        response.write('up 1\n');
        return;
      case '/latin1':
        response
          .writeHead(200)
          .end(
            Buffer.from([0x75, 0x70, 0x7b, 0x61, 0x3d, 0x22, 0xe9, 0x22, 0x7d, 0x20, 0x31, 0x0a]),
          );
        return;
      default:
        response.writeHead(404).end('not here');
    }
  }

  it('scrapes, asking for text format 0.0.4 even when the caller sends another Accept', async () => {
    const { ctx, progress } = fakeContext();
    const output = await runTask(
      { url: `${base}/metrics`, headers: { Accept: 'application/json' } },
      ctx,
    );
    assert.equal(output.sampleCount, 4);
    assert.equal(output.bytes, Buffer.byteLength(EXPOSITION));
    assert.equal(accepts.at(-1), 'text/plain;version=0.0.4');
    assert.deepEqual(progress, [50]);
  });

  it('fails on a 404, naming the status', async () => {
    await assert.rejects(runTask({ url: `${base}/missing?token=secret` }), (error: Error) => {
      assert.match(error.message, /answered 404 Not Found/);
      assert.doesNotMatch(error.message, /secret/);
      return true;
    });
  });

  it('stops reading a body that grows past maxBytes', async () => {
    await assert.rejects(
      runTask({ url: `${base}/big`, maxBytes: 8 * 1024 }),
      /passed the limit of 8192 bytes/,
    );
  });

  it('fails at once when Content-Length announces more than maxBytes', async () => {
    await assert.rejects(
      runTask({ url: `${base}/big-declared`, maxBytes: 1024 }),
      /10485760 bytes, over the limit of 1024/,
    );
  });

  it('stops when the task is aborted', async () => {
    const controller = new AbortController();
    const running = runTask({ url: `${base}/hang` }, fakeContext(controller.signal).ctx);
    setTimeout(() => controller.abort(new Error('task stopped: cancelled')), 50);
    await assert.rejects(running, /task stopped: cancelled/);
  });

  it('fails with a clear message after timeoutMs', async () => {
    await assert.rejects(
      runTask({ url: `${base}/hang`, timeoutMs: 100 }),
      /timed out after 100 ms/,
    );
  });

  it('refuses a body that is not UTF-8', async () => {
    await assert.rejects(runTask({ url: `${base}/latin1` }), /not valid UTF-8/);
  });
});
