/**
 * Proxies, with a real forward proxy on 127.0.0.1 (the npm package `proxy`) in front of a
 * reference server that refuses every protocol request that did not come through it: the proxy
 * adds a `Via: 1.1 <host> (proxy/<version>)` header, a direct request has none and gets 403.
 * The admin API (the test's own fetch calls) is let through directly.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { downloadRelease } from '../../src/update/download.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';
import type { ProxyConfig } from '../../src/wire/proxy.ts';
import { isProxied, PASSWORD, startProxy } from '../helpers/proxy.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

function testClient(serverUrl: string, proxy: ProxyConfig): HiveClient {
  return new HiveClient({
    serverUrl,
    token: '',
    workerId: 'proxy-test-00000000',
    userAgent: 'hive-worker/1.0.0 (linux-x64)',
    connectTimeoutMs: 2000,
    requestTimeoutMs: 2000,
    maxErrorSleepMs: 1000,
    tcpKeepAlive: true,
    proxy,
  });
}

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await closeServer(probe);
  return port;
}

describe('proxies', () => {
  let server: TestServer;
  let refused = 0;
  before(async () => {
    server = await startTestServer({
      onlyFrom: (req) => {
        if (/\/admin\//.test(req.url ?? '') || isProxied(req)) return true;
        refused += 1;
        return false;
      },
    });
  });
  after(() => server?.close());

  test('the guard is real: a direct protocol request is refused', async () => {
    const before = refused;
    const answer = await fetch(new URL('tasks/claim', server.url), { method: 'POST', body: '{}' });
    assert.equal(answer.status, 403);
    assert.equal(refused, before + 1);
  });

  test('HIVE_PROXY with credentials: a run of tasks goes through it, the password is never logged', async () => {
    const { proxy, port, requests } = await startProxy();
    const before = refused;
    await server.admin.enqueue({ id: 'px-echo', type: 'echo', payload: { via: 'proxy' } });
    await server.admin.enqueue({ id: 'px-sleep', type: 'sleep', payload: { ms: 300 } });
    const proxyUrl = `http://hive:${PASSWORD}@127.0.0.1:${port}`;
    const w = startWorker({ serverUrl: server.url, env: { HIVE_PROXY: proxyUrl } });
    try {
      await w.waitForOutput(/task px-sleep succeeded/, 30_000);
      await server.admin.waitFor(async () => {
        const done = await Promise.all(['px-echo', 'px-sleep'].map((id) => server.admin.task(id)));
        return done.every((task) => task.state === 'done') ? done : undefined;
      }, 10_000);
      assert.match(
        w.output(),
        new RegExp(`proxy +http://\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(from HIVE_PROXY\\)`),
      );
      assert.ok(
        requests.some((line) => line.includes('/tasks/claim')),
        requests.join('\n'),
      );
      // Alone (version 1) or in a batch (1.1): either way through the proxy.
      assert.ok(
        requests.some((line) => /\/tasks\/(?:px-echo\/result|results)\b/.test(line)),
        requests.join('\n'),
      );
      assert.equal(refused, before, 'no request reached the server directly');
    } finally {
      const exit = await w.stop();
      await closeServer(proxy);
      assert.equal(exit.code, 0, w.output());
    }
    const log = readFileSync(join(w.dataDir, 'logs', 'worker.log'), 'utf8');
    assert.doesNotMatch(w.output(), new RegExp(PASSWORD));
    assert.doesNotMatch(log, new RegExp(PASSWORD));
    assert.doesNotMatch(readFileSync(join(w.dataDir, 'status.json'), 'utf8'), new RegExp(PASSWORD));
  });

  test('HTTP_PROXY from the environment is honoured; NO_PROXY sends a host direct', async () => {
    const { proxy, port, requests } = await startProxy();
    const proxyUrl = `http://hive:${PASSWORD}@127.0.0.1:${port}`;
    try {
      await server.admin.enqueue({ id: 'px-env', type: 'echo', payload: 1 });
      const w = startWorker({
        serverUrl: server.url,
        env: { HTTP_PROXY: proxyUrl, NO_PROXY: 'example.invalid' },
      });
      try {
        await w.waitForOutput(/task px-env succeeded/, 30_000);
        assert.match(
          w.output(),
          /proxy +http:\/\/\*\*\*@127\.0\.0\.1:\d+, except example\.invalid \(from HTTP_PROXY, NO_PROXY\)/,
        );
        assert.ok(requests.length > 0);
      } finally {
        await w.stop();
      }
      // NO_PROXY matching the server's host: straight to it, past the proxy (the guard refuses it).
      const direct = testClient(server.url, {
        kind: 'environment',
        httpProxy: proxyUrl,
        httpsProxy: '',
        noProxy: '127.0.0.1',
        source: 'test',
      });
      const seen = requests.length;
      const claim = await direct.claimTask({
        workerId: 'proxy-test-00000000',
        version: '1.0.0',
        platform: 'linux-x64',
        tasks: ['echo'],
        waitSec: 0,
      });
      await direct.close();
      assert.deepEqual(claim, { kind: 'unauthorized', status: 403 });
      assert.equal(requests.length, seen);
    } finally {
      await closeServer(proxy);
    }
  });

  test('a proxy that is down is a network error: backoff, then tasks run once it is up', async () => {
    const port = await freePort();
    await server.admin.enqueue({ id: 'px-late', type: 'echo', payload: 'late' });
    const w = startWorker({
      serverUrl: server.url,
      env: { HIVE_PROXY: `http://hive:${PASSWORD}@127.0.0.1:${port}` },
    });
    let proxy: Awaited<ReturnType<typeof startProxy>>['proxy'] | undefined;
    try {
      await w.waitForOutput(/claim failed: .*\(retrying in /);
      assert.doesNotMatch(w.output(), /claimed task px-late/);
      proxy = (await startProxy(port)).proxy;
      await w.waitForOutput(/task px-late succeeded/, 30_000);
      const task = await server.admin.waitFor(async () => {
        const found = await server.admin.task('px-late');
        return found.state === 'done' ? found : undefined;
      }, 10_000);
      assert.equal(task.results.length, 1, 'stored once');
    } finally {
      const exit = await w.stop();
      if (proxy !== undefined) await closeServer(proxy);
      assert.equal(exit.code, 0, w.output());
    }
  });

  test('release downloads use the same dispatcher, so the same proxy', async () => {
    const { proxy, port, requests } = await startProxy();
    const payload = Buffer.alloc(200_000, 7);
    const files = createServer((req, res) => {
      if (!isProxied(req)) {
        res.writeHead(403).end('not through the proxy');
        return;
      }
      res.writeHead(200, { 'content-length': payload.length }).end(payload);
    });
    files.listen(0, '127.0.0.1');
    await once(files, 'listening');
    const filesPort = (files.address() as AddressInfo).port;
    const client = testClient(`http://127.0.0.1:${filesPort}/api/`, {
      kind: 'fixed',
      url: `http://hive:${PASSWORD}@127.0.0.1:${port}`,
      source: 'test',
    });
    const dest = join(tempDir('hive-proxy-dl-'), 'release.zip');
    try {
      await downloadRelease({
        url: client.resolve('releases/worker.zip'),
        dest,
        sizeBytes: payload.length,
        sha256: '0'.repeat(64),
        headers: client.requestHeaders(client.resolve('releases/worker.zip')),
        dispatcher: client.dispatcher,
        deadlineMs: 10_000,
        inactivityMs: 5000,
      });
    } finally {
      await client.close();
      await closeServer(files);
      await closeServer(proxy);
    }
    assert.deepEqual(readFileSync(dest), payload);
    assert.deepEqual(requests, [`GET http://127.0.0.1:${filesPort}/api/releases/worker.zip`]);
  });
});
