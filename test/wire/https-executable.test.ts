/**
 * HTTPS with a private CA, on the BUILT Linux executable (the test build of test/fixtures/entry.ts
 * with the real build, so with the SEA's execArgv). The operating system's store is what
 * corporate machines use: on Linux it is OpenSSL's default file and folder, which Node reads from
 * SSL_CERT_FILE / SSL_CERT_DIR under --use-system-ca (checked: without the flag they are ignored).
 * NODE_OPTIONS cannot reach the executable, so the flag has to be in it: these tests fail if it
 * is not. Task processes are the same executable, so they trust the same store — a prom_pars task
 * scrapes the server's https:// metrics to show it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAdminClient } from '../../scripts/server/admin-client.ts';
import { type HiveServer, startServer } from '../../scripts/server/start.ts';
import { builtWorker } from '../helpers/built-worker.ts';
import { startInspectingProxy } from '../helpers/inspecting-proxy.ts';
import { createTestCa, trustEnv, trustingFetch } from '../helpers/tls.ts';
import { startWorker } from '../helpers/worker.ts';

const ca = createTestCa('Hive Executable Test CA');
const inspectCa = createTestCa('Corporate TLS Inspection CA');
const admin = (url: string) => createAdminClient(url, { fetch: trustingFetch(ca.cert) });

describe('HTTPS with a private CA (built executable)', { timeout: 600_000 }, () => {
  let server: HiveServer;
  let exe: string;
  before(async () => {
    exe = await builtWorker();
    const leaf = ca.issue();
    server = await startServer({ leaseCheckMs: 20, tls: { cert: leaf.cert, key: leaf.key } });
  });
  after(() => server?.close());

  /** Runs the executable with `env` until the tasks `ids` have results on the server. */
  async function run(ids: string[], env: Record<string, string>) {
    const w = startWorker({
      serverUrl: server.url,
      env: { ...env, HIVE_AUTO_UPDATE: 'false' },
      command: { file: exe, args: [] },
    });
    try {
      const tasks = await admin(server.url).waitFor(async () => {
        const found = await Promise.all(ids.map((id) => admin(server.url).task(id)));
        return found.every((task) => task.state === 'done') ? found : undefined;
      }, 60_000);
      return { w, results: tasks.map((task) => task.results[0]?.body) };
    } finally {
      const exit = await w.stop();
      assert.equal(exit.code, 0, w.output());
    }
  }

  const scrape = () => ({ url: `${server.url}metrics`, families: ['hive_server_tasks'] });

  test('the system store alone (no worker setting, no NODE_EXTRA_CA_CERTS): the worker and its task processes trust it', async () => {
    await admin(server.url).enqueue({ id: 'exe-sys-echo', type: 'echo', payload: 'sys' });
    await admin(server.url).enqueue({ id: 'exe-sys-prom', type: 'prom_pars', payload: scrape() });
    const { results } = await run(
      ['exe-sys-echo', 'exe-sys-prom'],
      trustEnv({ systemCaFile: ca.certFile }),
    );
    assert.deepEqual(
      results.map((body) => body?.status),
      ['succeeded', 'succeeded'],
      JSON.stringify(results),
    );
  });

  test('NODE_EXTRA_CA_CERTS still works in the executable, task processes included', async () => {
    await admin(server.url).enqueue({ id: 'exe-extra-prom', type: 'prom_pars', payload: scrape() });
    const { results } = await run(['exe-extra-prom'], trustEnv({ extraCaFile: ca.certFile }));
    assert.equal(results[0]?.status, 'succeeded', JSON.stringify(results));
  });

  test('CA_FILE: the worker trusts it; task processes do not get it (docs say so)', async () => {
    await admin(server.url).enqueue({ id: 'exe-ca-echo', type: 'echo', payload: 'ca' });
    await admin(server.url).enqueue({ id: 'exe-ca-prom', type: 'prom_pars', payload: scrape() });
    const { w, results } = await run(['exe-ca-echo', 'exe-ca-prom'], {
      ...trustEnv({}),
      HIVE_CA_FILE: ca.certFile,
    });
    assert.equal(results[0]?.status, 'succeeded');
    assert.equal(results[1]?.status, 'failed');
    assert.match(results[1]?.error?.message ?? '', /certificate/i);
    assert.match(w.output(), /CA file +\S+ \(1 certificate\(s\)/);
  });

  test('behind a TLS-inspecting proxy: its CA in the system store is all it takes, and CA_FILE does not push it out', async () => {
    const { proxy, port, seen } = await startInspectingProxy(inspectCa, ca.cert);
    try {
      await admin(server.url).enqueue({ id: 'exe-inspected', type: 'echo', payload: 'mitm' });
      // CA_FILE holds the server's own CA, which the worker never gets to see behind this proxy:
      // only the system store (the inspection CA) can make this work.
      await run(['exe-inspected'], {
        ...trustEnv({ systemCaFile: inspectCa.certFile }),
        HIVE_CA_FILE: ca.certFile,
        HIVE_PROXY: `http://127.0.0.1:${port}`,
      });
      const host = new URL(server.url).host;
      assert.ok(seen.includes(`POST ${host}/api/tasks/claim`), seen.join('\n'));
      const results = [
        `POST ${host}/api/tasks/exe-inspected/result`,
        `POST ${host}/api/tasks/results`,
      ];
      assert.ok(
        seen.some((line) => results.includes(line)),
        seen.join('\n'),
      );

      // Without the inspection CA, the server's CA in CA_FILE does not help: the line says so.
      await admin(server.url).enqueue({ id: 'exe-inspected-2', type: 'echo', payload: 'mitm' });
      const w = startWorker({
        serverUrl: server.url,
        env: {
          ...trustEnv({}),
          HIVE_CA_FILE: ca.certFile,
          HIVE_PROXY: `http://127.0.0.1:${port}`,
          HIVE_AUTO_UPDATE: 'false',
        },
        command: { file: exe, args: [] },
      });
      try {
        await w.waitForOutput(
          /claim failed.*the TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): add the CA that signed it to this computer's certificate store/,
          30_000,
        );
      } finally {
        await w.stop();
      }
      assert.equal((await admin(server.url).task('exe-inspected-2')).state, 'queued');
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  test('untrusted: the one line names CA_FILE and the certificate store, never --use-system-ca', async () => {
    await admin(server.url).enqueue({ id: 'exe-untrusted', type: 'echo', payload: 1 });
    const w = startWorker({
      serverUrl: server.url,
      env: { ...trustEnv({}), HIVE_AUTO_UPDATE: 'false' },
      command: { file: exe, args: [] },
    });
    try {
      await w.waitForOutput(/is not trusted/, 30_000);
    } finally {
      await w.stop();
    }
    const origin = new URL(server.url).origin;
    assert.match(
      w.output(),
      new RegExp(
        `claim failed.*: the TLS certificate of ${origin.replaceAll('.', '\\.')} is not trusted \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\): add the CA that signed it to this computer's certificate store, or set CA_FILE to a PEM file holding it \\(retrying in [\\d.]+ s\\)\\n`,
      ),
    );
    assert.doesNotMatch(w.output(), /use-system-ca|Node\.js/);
    assert.equal((await admin(server.url).task('exe-untrusted')).state, 'queued');
  });
});
