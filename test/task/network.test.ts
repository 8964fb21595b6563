/**
 * TASK_LOCAL_NETWORK (src/task/network.ts): which local addresses network tasks may reach, decided
 * in-process, then prom_pars in real task processes and a real worker: the cloud metadata address
 * refused with a clear message, loopback by the setting.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TASK_CHILD_FLAG } from '../../src/task/ipc.ts';
import { localKind, localNetworkFromArgv, taskNetwork } from '../../src/task/network.ts';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { runInTaskProcess } from '../helpers/task.ts';
import { startWorker } from '../helpers/worker.ts';

const SOURCE_ENTRY = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

describe('which addresses are local', () => {
  test('loopback, link-local (IPv4, IPv6, IPv4-mapped), and the rest', () => {
    const cases: Record<string, string | undefined> = {
      '127.0.0.1': 'loopback',
      '127.8.9.10': 'loopback',
      '0.0.0.0': 'loopback',
      '[::1]': 'loopback',
      '[::ffff:7f00:1]': 'loopback',
      '169.254.169.254': 'link-local',
      '[fe80::1]': 'link-local',
      '[febf::1]': 'link-local',
      '[::ffff:a9fe:a9fe]': 'link-local',
      '::ffff:169.254.169.254': 'link-local',
      '10.0.0.1': undefined,
      '[2001:db8::1]': undefined,
      'metadata.google.internal': undefined, // a name: checked when it resolves
    };
    for (const [address, kind] of Object.entries(cases))
      assert.equal(localKind(address), kind, address);
  });

  test('the setting decides; URL forms that spell an address another way are caught', () => {
    const none = taskNetwork('none');
    const loopback = taskNetwork('loopback');
    const all = taskNetwork('all');
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://2852039166/', // 169.254.169.254 as one number: URL normalises it
      'http://0xa9.0xfe.0xa9.0xfe/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fe80::1]:9100/metrics',
    ]) {
      assert.throws(() => loopback.checkUrl(url), /link-local address/, url);
      assert.doesNotThrow(() => all.checkUrl(url), url);
    }
    assert.doesNotThrow(() => loopback.checkUrl('http://127.0.0.1:9100/metrics'));
    assert.throws(
      () => none.checkUrl('http://127.0.0.1:9100/metrics'),
      /refused to connect to 127\.0\.0\.1: a loopback address .*TASK_LOCAL_NETWORK is "none"/,
    );
    assert.equal(localNetworkFromArgv([TASK_CHILD_FLAG, '--local-network=all']), 'all');
    assert.equal(localNetworkFromArgv([TASK_CHILD_FLAG]), 'loopback');
    assert.equal(localNetworkFromArgv(['--local-network=bogus']), 'loopback');
  });

  test('a name is checked on what it resolves to: localhost under "none"', async () => {
    const lookup = (network: ReturnType<typeof taskNetwork>) =>
      new Promise<string>((resolve) =>
        network.lookup('localhost', {}, (error, address) =>
          resolve(error?.message ?? String(address)),
        ),
      );
    assert.match(await lookup(taskNetwork('none')), /refused to connect to (127\.0\.0\.1|::1)/);
    assert.match(await lookup(taskNetwork('loopback')), /^(127\.0\.0\.1|::1)$/);
  });
});

describe('prom_pars and TASK_LOCAL_NETWORK, in real task processes', () => {
  let exporter: ReturnType<typeof createServer>;
  let port = 0;
  let server: TestServer;
  before(async () => {
    exporter = createServer((_req, res) => res.end('up 1\n'));
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    port = (exporter.address() as AddressInfo).port;
    server = await startTestServer();
  });
  after(() => {
    exporter?.close();
    return server?.close();
  });

  test('http://169.254.169.254/ is refused: failed, with the setting named', async () => {
    const outcome = await runInTaskProcess('prom_pars', { url: 'http://169.254.169.254/latest/' });
    assert.equal(outcome.status, 'failed');
    assert.match(
      outcome.error?.message ?? '',
      /^GET http:\/\/169\.254\.169\.254\/latest\/: refused to connect to 169\.254\.169\.254: a link-local address .*TASK_LOCAL_NETWORK is "loopback"/,
    );
  });

  test('a name resolving to loopback under "none" is refused when it connects', async () => {
    const outcome = await runInTaskProcess(
      'prom_pars',
      { url: `http://localhost:${port}/metrics` },
      {
        command: {
          file: process.execPath,
          args: [SOURCE_ENTRY, TASK_CHILD_FLAG, '--local-network=none'],
        },
      },
    );
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.error?.message ?? '', /refused to connect to .*a loopback address/);
  });

  test('a worker with TASK_LOCAL_NETWORK=none passes it to its tasks; the default reaches loopback', async () => {
    const url = `http://127.0.0.1:${port}/metrics`;
    await server.admin.enqueue({ id: 'net-none', type: 'prom_pars', payload: { url } });
    const refusing = startWorker({
      serverUrl: server.url,
      env: { HIVE_TASK_LOCAL_NETWORK: 'none' },
      args: ['--once'],
    });
    await refusing.exitedWithin(15_000);
    await server.admin.enqueue({ id: 'net-default', type: 'prom_pars', payload: { url } });
    await startWorker({ serverUrl: server.url, args: ['--once'] }).exitedWithin(15_000);
    const results = await waitForResults(server.admin, 'net-', 2, 5000);
    const byId = Object.fromEntries(results.map((result) => [result.taskId, result.body]));
    assert.equal(byId['net-none']?.status, 'failed');
    assert.match(byId['net-none']?.error?.message ?? '', /TASK_LOCAL_NETWORK is "none"/);
    assert.equal(byId['net-default']?.status, 'succeeded', JSON.stringify(byId['net-default']));
  });
});
