/**
 * HTTPS with a private CA, from source: the reference server serves TLS with a certificate made
 * here by openssl, and real worker processes must trust it through NODE_EXTRA_CA_CERTS, CA_FILE
 * or the system store — and say one actionable line when they do not. Every worker gets its trust
 * spelled out (trustEnv): this machine otherwise hands every process the Debian bundle.
 * The test's own admin calls trust the CA through their own fetch, not through the process's
 * defaults, so nothing here passes because of how the test process is set up.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createAdminClient } from '../../scripts/server/admin-client.ts';
import { type HiveServer, startServer } from '../../scripts/server/start.ts';
import { downloadRelease } from '../../src/update/download.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';
import { encodeResultBody } from '../../src/wire/protocol.ts';
import { createTestCa, trustEnv, trustingFetch } from '../helpers/tls.ts';
import { FIXTURE_ENTRY, startWorker, tempDir } from '../helpers/worker.ts';

const ca = createTestCa('Hive HTTPS Test CA');
const otherCa = createTestCa('Unrelated Test CA');
const admin = (url: string) => createAdminClient(url, { fetch: trustingFetch(ca.cert) });

function testClient(serverUrl: string, caCertificates?: string[]): HiveClient {
  return new HiveClient({
    serverUrl,
    token: '',
    workerId: 'https-test-00000000',
    userAgent: 'hive-worker/1.0.0 (linux-x64)',
    connectTimeoutMs: 2000,
    requestTimeoutMs: 2000,
    maxErrorSleepMs: 1000,
    tcpKeepAlive: true,
    ...(caCertificates === undefined ? {} : { caCertificates }),
  });
}

const CLAIM = {
  workerId: 'https-test-00000000',
  version: '1.0.0',
  platform: 'linux-x64',
  tasks: ['echo'],
  waitSec: 0,
};

describe('HTTPS with a private CA (from source)', () => {
  let server: HiveServer;
  before(async () => {
    const leaf = ca.issue();
    server = await startServer({ leaseCheckMs: 20, tls: { cert: leaf.cert, key: leaf.key } });
  });
  after(() => server?.close());

  /** Runs one echo task through a worker with `env`, and checks the server stored its result. */
  async function runsTask(id: string, env: Record<string, string>, args: string[] = []) {
    await admin(server.url).enqueue({ id, type: 'echo', payload: { id } });
    const w = startWorker({
      serverUrl: server.url,
      env,
      ...(args.length > 0 ? { command: { file: process.execPath, args } } : {}),
    });
    try {
      await w.waitForOutput(new RegExp(`task ${id} succeeded`), 30_000);
      const task = await admin(server.url).waitFor(async () => {
        const found = await admin(server.url).task(id);
        return found.state === 'done' ? found : undefined;
      }, 10_000);
      assert.equal(task.results[0]?.body.status, 'succeeded');
    } finally {
      const exit = await w.stop();
      assert.equal(exit.code, 0, w.output());
    }
    return w;
  }

  test('the server is https:// and the test machine does not trust its CA by default', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+\/api\/$/);
    const client = testClient(server.url);
    const claim = await client.claimTask(CLAIM);
    await client.close();
    assert.equal(claim.kind, 'error');
  });

  test('trusted through NODE_EXTRA_CA_CERTS: claim and result over TLS', async () => {
    await runsTask('tls-extra', trustEnv({ extraCaFile: ca.certFile }));
  });

  test('trusted through CA_FILE alone; the banner names the file', async () => {
    const w = await runsTask('tls-cafile', { ...trustEnv({}), HIVE_CA_FILE: ca.certFile });
    assert.match(
      w.output(),
      /CA file +\S+ca\.pem \(1 certificate\(s\), trusted on top of the system's\)/,
    );
  });

  test('CA_FILE adds to the default roots: a CA trusted elsewhere stays trusted', async () => {
    // The server's CA comes from NODE_EXTRA_CA_CERTS; CA_FILE holds an unrelated one. Were CA_FILE
    // to replace the roots, this worker would stop trusting its server.
    await runsTask('tls-added', {
      ...trustEnv({ extraCaFile: ca.certFile }),
      HIVE_CA_FILE: otherCa.certFile,
    });
  });

  test('the system store, as `npm start` runs it (node --use-system-ca): SSL_CERT_FILE holds the CA', async () => {
    await runsTask('tls-system', trustEnv({ systemCaFile: ca.certFile }), [
      '--use-system-ca',
      FIXTURE_ENTRY,
    ]);
  });

  test('untrusted: one line naming CA_FILE and the system store, no Node.js advice; nothing claimed', async () => {
    await admin(server.url).enqueue({ id: 'tls-untrusted', type: 'echo', payload: 1 });
    const w = startWorker({
      serverUrl: server.url,
      env: { ...trustEnv({}), HIVE_CA_FILE: otherCa.certFile },
    });
    try {
      await w.waitForOutput(
        /claim failed: .*\(retrying in .*\n(.|\n)*claim failed: .*\(retrying in /,
      );
    } finally {
      await w.stop();
    }
    const origin = new URL(server.url).origin;
    const lines = w
      .output()
      .split('\n')
      .filter((line) => line.includes('claim failed'));
    assert.ok(lines.length >= 2);
    for (const line of lines) {
      assert.ok(
        line.includes(
          `claim failed: the TLS certificate of ${origin} is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE): add the CA that signed it to this computer's certificate store, or set CA_FILE to a PEM file holding it (retrying in `,
        ),
        line,
      );
    }
    assert.doesNotMatch(w.output(), /use-system-ca|Node\.js/);
    assert.equal((await admin(server.url).task('tls-untrusted')).state, 'queued');
  });

  test('an expired certificate says so (and not "set CA_FILE"), even with its CA trusted', async () => {
    const expired = ca.issue({ days: 0 });
    const notAfter = new Date(new X509Certificate(expired.cert).validTo).getTime();
    await delay(Math.max(0, notAfter + 1100 - Date.now()));
    const stale = await startServer({ tls: { cert: expired.cert, key: expired.key } });
    const client = testClient(stale.url, [ca.cert]);
    try {
      const claim = await client.claimTask(CLAIM);
      assert.equal(claim.kind, 'error');
      assert.equal(
        claim.kind === 'error' ? claim.error.message : '',
        `claim failed: the TLS certificate of ${new URL(stale.url).origin} has expired (CERT_HAS_EXPIRED): the server's certificate must be renewed, or this computer's clock is wrong`,
      );
    } finally {
      await client.close();
      await stale.close();
    }
  });

  test('a certificate for another name says which names it has', async () => {
    const elsewhere = ca.issue({ names: ['hive.example.com'] });
    const wrong = await startServer({ tls: { cert: elsewhere.cert, key: elsewhere.key } });
    const client = testClient(wrong.url, [ca.cert]);
    try {
      const answer = await client.sendHeartbeat('t-1', { workerId: 'https-test-00000000' });
      assert.equal(answer.kind, 'error');
      assert.match(
        answer.kind === 'error' ? answer.error.message : '',
        /^heartbeat failed: the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not for that host \(it names DNS:hive\.example\.com\) \(ERR_TLS_CERT_ALTNAME_INVALID\): use a name the certificate lists in SERVER_URL$/,
      );
    } finally {
      await client.close();
      await wrong.close();
    }
  });

  test('https:// to a server that speaks plain HTTP says to check the scheme and port', async () => {
    const plain = await startServer({});
    const tlsUrl = plain.url.replace('http:', 'https:');
    const client = testClient(tlsUrl);
    try {
      const answer = await client.sendResult(
        't-1',
        encodeResultBody(
          {
            workerId: 'https-test-00000000',
            resultId: '00000000-0000-4000-8000-000000000000',
            workerVersion: '1.0.0',
            status: 'succeeded',
            error: null,
            attempt: 1,
            startedAt: new Date().toISOString(),
            finishedAt: new Date().toISOString(),
          },
          'null',
        ),
      );
      assert.equal(answer.kind, 'retry', 'a result is kept, not refused');
      assert.equal(
        answer.kind === 'retry' ? answer.error.message : '',
        `result failed: ${new URL(tlsUrl).origin} does not answer in TLS (ERR_SSL_WRONG_VERSION_NUMBER): check the scheme (https:// or http://) and port in SERVER_URL`,
      );
    } finally {
      await client.close();
      await plain.close();
    }
  });

  test('a release download from an untrusted or non-TLS origin says the same, naming the release URL', async () => {
    const plain = await startServer({});
    const client = testClient(server.url, [otherCa.cert]);
    const download = (url: string) =>
      downloadRelease({
        url: new URL(url),
        dest: join(tempDir('hive-tls-dl-'), 'release.zip'),
        sizeBytes: 10,
        sha256: '0'.repeat(64),
        headers: {},
        dispatcher: client.dispatcher,
        deadlineMs: 5000,
        inactivityMs: 2000,
      }).then(
        () => assert.fail('the download must fail'),
        (error: Error) => error.message,
      );
    try {
      assert.equal(
        await download(`${server.url}releases/worker.zip`),
        `download failed: the TLS certificate of ${new URL(server.url).origin} is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE): add the CA that signed it to this computer's certificate store, or set CA_FILE to a PEM file holding it; will resume`,
      );
      const tlsUrl = plain.url.replace('http:', 'https:');
      assert.equal(
        await download(`${tlsUrl}releases/worker.zip`),
        `download failed: ${new URL(tlsUrl).origin} does not answer in TLS (ERR_SSL_WRONG_VERSION_NUMBER): check the scheme (https:// or http://) and port in the server's release URL; will resume`,
      );
    } finally {
      await client.close();
      await plain.close();
    }
  });
});
