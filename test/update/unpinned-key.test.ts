/**
 * A build without a pinned release key: the worker says at start, in plain terms, that self-update
 * is off and how to pin a key; a malformed key keeps its precise message.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadSettings } from '../../src/settings/load.ts';
import { SelfUpdate } from '../../src/update/self-update.ts';
import { UpdateStore } from '../../src/update/state.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';
import { capturingLog } from '../helpers/log.ts';
import { tempDir } from '../helpers/worker.ts';

/** What a SelfUpdate built with `publicKey` logs at start (as the executable: it has a path). */
async function startLines(publicKey: string): Promise<string[]> {
  const dataDir = tempDir('hive-no-key-');
  const { log, lines } = capturingLog('debug');
  const { settings } = loadSettings({ argv: [], env: {}, installDir: dataDir });
  const client = new HiveClient({
    serverUrl: 'http://127.0.0.1:9/',
    token: '',
    workerId: 'w-no-key',
    userAgent: 'hive-worker/1.0.0 (linux-x64)',
    connectTimeoutMs: 100,
    requestTimeoutMs: 100,
    maxErrorSleepMs: 100,
    tcpKeepAlive: true,
  });
  const update = new SelfUpdate({
    client,
    store: new UpdateStore(dataDir),
    settings,
    log,
    version: '1.0.0',
    platform: 'linux-x64',
    publicKey,
    executable: join(dataDir, 'worker'),
    dataDir,
    env: {},
    supervisor: 'none',
    onReady: () => {},
  });
  update.start();
  update.stop();
  await client.close();
  return lines.map((line) => line.msg);
}

test('no pinned key: "self-update is off: this build has no release key pinned", and how to pin one', async () => {
  const off = (await startLines('')).filter((line) => line.startsWith('self-update is off'));
  assert.equal(off.length, 1, 'said once');
  const [line = ''] = off;
  assert.match(line, /^self-update is off: this build has no release key pinned/);
  assert.match(line, /build\.config\.json "releasePublicKey" or in HIVE_RELEASE_PUBLIC_KEY/);
  assert.ok(!line.includes('not 32 bytes') && !line.includes('""'), line);
});

test('a malformed pinned key keeps the precise message', async () => {
  const lines = await startLines('not-a-key');
  assert.ok(
    lines.includes(
      'self-update is off: the pinned release key is not 32 bytes of base64url (build.config.json releasePublicKey): "not-a-key"',
    ),
    lines.join('\n'),
  );
});
