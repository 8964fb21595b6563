/**
 * HTTPS through an authenticating forward proxy (CONNECT), the way companies run it: a real proxy
 * (the npm package `proxy`, wanting a user and password) in front of the TLS reference server.
 * Inside a tunnel the proxy cannot add a `Via` header, so it connects out from 127.0.0.2 and the
 * server refuses protocol requests from any other address: a request that went direct fails.
 * Claims, results and a signed release download go through it; the release also direct.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packRelease, publicKeyOf } from '../../scripts/release/package.ts';
import { createAdminClient } from '../../scripts/server/admin-client.ts';
import { type HiveServer, startServer } from '../../scripts/server/start.ts';
import { downloadRelease } from '../../src/update/download.ts';
import { releasePublicKey } from '../../src/update/signature.ts';
import { verifyAnnouncement, verifyDownload } from '../../src/update/verify.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';
import type { ProxyConfig } from '../../src/wire/proxy.ts';
import { PASSWORD, startProxy } from '../helpers/proxy.ts';
import { createTestCa, trustEnv, trustingFetch } from '../helpers/tls.ts';
import { startWorker, tempDir } from '../helpers/worker.ts';

const PROXY_SOURCE = '127.0.0.2';
const ca = createTestCa('Hive Proxy Test CA');
const admin = (url: string) => createAdminClient(url, { fetch: trustingFetch(ca.cert) });

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** A small signed release (a stand-in executable, the real updater.sh) in a fresh folder. */
function smallRelease() {
  const dir = tempDir('hive-tls-release-');
  const { privateKey } = generateKeyPairSync('ed25519');
  const pinned = publicKeyOf(privateKey);
  const executable = join(dir, 'worker-bin');
  writeFileSync(executable, '#!/bin/sh\necho 1.1.0\n');
  const packed = packRelease({
    version: '1.1.0',
    platform: 'linux-x64',
    executable,
    updater: join(import.meta.dirname, '..', '..', 'updater', 'updater.sh'),
    outDir: dir,
    privateKey,
    pinnedPublicKey: pinned,
  });
  return { dir, pinned, zip: readFileSync(packed.zip) };
}

describe('HTTPS through an authenticating proxy (CONNECT)', () => {
  const release = smallRelease();
  let server: HiveServer;
  let refused = 0;
  before(async () => {
    const leaf = ca.issue();
    server = await startServer({
      leaseCheckMs: 20,
      releasesDir: release.dir,
      tls: { cert: leaf.cert, key: leaf.key },
      onlyFrom: (req) => {
        if (/\/admin\//.test(req.url ?? '') || req.socket.remoteAddress === PROXY_SOURCE) {
          return true;
        }
        refused += 1;
        return false;
      },
    });
  });
  after(() => server?.close());

  const proxyUrl = (port: number) => `http://hive:${PASSWORD}@127.0.0.1:${port}`;
  const serverHost = () => new URL(server.url).host;

  test('the guard is real: a direct protocol request is refused', async () => {
    const client = new HiveClient({
      serverUrl: server.url,
      token: '',
      workerId: 'tls-proxy-00000000',
      userAgent: 'hive-worker/1.0.0 (linux-x64)',
      connectTimeoutMs: 2000,
      requestTimeoutMs: 2000,
      maxErrorSleepMs: 1000,
      tcpKeepAlive: true,
      caCertificates: [ca.cert],
    });
    const before = refused;
    const answer = await client.getRelease('linux-x64');
    await client.close();
    assert.equal(answer.kind, 'error');
    assert.equal(refused, before + 1);
  });

  test('claims and results of a worker go through the tunnel; the password is never logged', async () => {
    const { proxy, port, requests } = await startProxy(0, { localAddress: PROXY_SOURCE });
    const before = refused;
    await admin(server.url).enqueue({ id: 'tp-echo', type: 'echo', payload: { via: 'tunnel' } });
    await admin(server.url).enqueue({ id: 'tp-sleep', type: 'sleep', payload: { ms: 200 } });
    const w = startWorker({
      serverUrl: server.url,
      env: { ...trustEnv({}), HIVE_CA_FILE: ca.certFile, HIVE_PROXY: proxyUrl(port) },
    });
    try {
      await admin(server.url).waitFor(async () => {
        const done = await Promise.all(
          ['tp-echo', 'tp-sleep'].map((id) => admin(server.url).task(id)),
        );
        return done.every((task) => task.state === 'done') ? done : undefined;
      }, 30_000);
    } finally {
      const exit = await w.stop();
      await closeServer(proxy);
      assert.equal(exit.code, 0, w.output());
    }
    assert.ok(requests.includes(`CONNECT ${serverHost()}`), requests.join('\n'));
    assert.equal(refused, before, 'no protocol request reached the server directly');
    const log = readFileSync(join(w.dataDir, 'logs', 'worker.log'), 'utf8');
    assert.doesNotMatch(w.output() + log, new RegExp(PASSWORD));
  });

  test('a signed release: checked and downloaded through the tunnel, and direct', async () => {
    const { proxy, port, requests } = await startProxy(0, { localAddress: PROXY_SOURCE });
    const before = refused;
    // The direct case needs a server without the guard: the same releases, another port.
    const leaf = ca.issue();
    const open = await startServer({ releasesDir: release.dir, tls: leaf });
    const routes: Array<[string, string, ProxyConfig]> = [
      ['tunnel', server.url, { kind: 'fixed', url: proxyUrl(port), source: 'test' }],
      ['direct', open.url, { kind: 'none', source: 'test' }],
    ];
    try {
      for (const [name, serverUrl, route] of routes) {
        const client = new HiveClient({
          serverUrl,
          token: '',
          workerId: 'tls-proxy-00000000',
          userAgent: 'hive-worker/1.0.0 (linux-x64)',
          connectTimeoutMs: 2000,
          requestTimeoutMs: 5000,
          maxErrorSleepMs: 1000,
          tcpKeepAlive: true,
          proxy: route,
          caCertificates: [ca.cert],
        });
        try {
          const answer = await client.getRelease('linux-x64');
          assert.equal(answer.kind, 'release', `${name}: ${JSON.stringify(answer)}`);
          if (answer.kind !== 'release') return;
          verifyAnnouncement(answer.release, 'linux-x64', releasePublicKey(release.pinned));
          const dest = join(tempDir('hive-tls-dl-'), 'release.zip');
          await downloadRelease({
            url: client.resolve(answer.release.url),
            dest,
            sizeBytes: answer.release.size,
            sha256: answer.release.sha256,
            headers: client.requestHeaders(client.resolve(answer.release.url)),
            dispatcher: client.dispatcher,
            deadlineMs: 20_000,
            inactivityMs: 5000,
          });
          await verifyDownload(dest, answer.release);
          assert.deepEqual(readFileSync(dest), release.zip, name);
        } finally {
          await client.close();
        }
      }
    } finally {
      await open.close();
      await closeServer(proxy);
    }
    assert.ok(requests.length > 0, 'the tunnelled check and download went through the proxy');
    assert.ok(
      requests.every((line) => line === `CONNECT ${serverHost()}`),
      requests.join('\n'),
    );
    assert.equal(refused, before, 'nothing of the tunnelled case reached the server directly');
  });

  test('the proxy stops accepting the password mid-run: one clear line, the result waits in the outbox, then goes once', async () => {
    const { proxy, port } = await startProxy(0, { localAddress: PROXY_SOURCE });
    const sockets = new Set<Socket>();
    proxy.on('connection', (socket: Socket) => sockets.add(socket));
    const accept = proxy.authenticate;
    await admin(server.url).enqueue({ id: 'tp-rotate', type: 'sleep', payload: { ms: 1500 } });
    const w = startWorker({
      serverUrl: server.url,
      env: { ...trustEnv({}), HIVE_CA_FILE: ca.certFile, HIVE_PROXY: proxyUrl(port) },
    });
    try {
      await w.waitForOutput(/claimed task tp-rotate/, 30_000);
      // The password is refused from now on; the open tunnel is cut so the worker must ask again.
      proxy.authenticate = () => false;
      for (const socket of sockets) socket.destroy();
      await w.waitForOutput(
        /result not delivered, kept in the outbox to re-send: results? failed: the proxy refused to connect to https:\/\/127\.0\.0\.1:\d+ \(HTTP 407\): check the user and password in the proxy URL/,
        30_000,
      );
      assert.equal((await admin(server.url).task('tp-rotate')).results.length, 0);
      proxy.authenticate = accept;
      const task = await admin(server.url).waitFor(async () => {
        const found = await admin(server.url).task('tp-rotate');
        return found.state === 'done' ? found : undefined;
      }, 30_000);
      assert.equal(task.results.length, 1, 'stored once');
      assert.equal(task.results[0]?.body.status, 'succeeded');
    } finally {
      const exit = await w.stop();
      await closeServer(proxy);
      assert.equal(exit.code, 0, w.output());
    }
  });
});
