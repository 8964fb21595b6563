/**
 * The reference server's --tls-cert / --tls-key, as `npm run server` runs it (a real child
 * process): it serves HTTPS and says so in its listening line; bad flags are one line each.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createAdminClient } from '../../scripts/server/admin-client.ts';
import { spawnServer } from '../helpers/server.ts';
import { createTestCa, trustingFetch } from '../helpers/tls.ts';

const SERVER_SCRIPT = fileURLToPath(new URL('../../scripts/server.ts', import.meta.url));

describe('reference server over TLS', () => {
  const ca = createTestCa('Server TLS Test CA');

  test('--tls-cert/--tls-key: an https:// API root that serves the API', async () => {
    const leaf = ca.issue();
    const server = await spawnServer({ tls: { certFile: leaf.certFile, keyFile: leaf.keyFile } });
    try {
      assert.match(server.output, /^hive-server listening on https:\/\/127\.0\.0\.1:\d+\/api\/$/m);
      const admin = createAdminClient(server.url, { fetch: trustingFetch(ca.cert) });
      await admin.enqueue({ id: 'srv-tls', type: 'echo', payload: 1 });
      assert.equal((await admin.task('srv-tls')).state, 'queued');
      // Plain HTTP to the TLS port is not answered as the API.
      const plain = await fetch(server.url.replace('https:', 'http:')).catch(
        (error: Error) => error,
      );
      assert.ok(plain instanceof Error || plain.status >= 400);
    } finally {
      await server.dispose();
    }
  });

  test('one flag without the other, or an unreadable file, is one line each and exit 2', () => {
    const run = spawnSync(
      process.execPath,
      [SERVER_SCRIPT, '--port', '0', '--tls-cert', '/nonexistent/cert.pem'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /Expected --tls-cert and --tls-key together/);
    const unreadable = spawnSync(
      process.execPath,
      [
        SERVER_SCRIPT,
        '--port',
        '0',
        '--tls-cert',
        '/nonexistent/c.pem',
        '--tls-key',
        '/nonexistent/k.pem',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(unreadable.status, 2, unreadable.stderr);
    assert.match(unreadable.stderr, /Cannot read --tls-cert \/nonexistent\/c\.pem: ENOENT/);
    assert.match(unreadable.stderr, /Cannot read --tls-key \/nonexistent\/k\.pem: ENOENT/);
  });
});
