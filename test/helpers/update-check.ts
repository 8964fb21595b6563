/**
 * One update check by a real SelfUpdate, as the executable runs it: settings from `env`, a real
 * HiveClient to the server, a fresh data folder. Says what it logged and what it prepared.
 */
import { join } from 'node:path';
import { loadSettings } from '../../src/settings/load.ts';
import type { PreparedUpdate } from '../../src/update/prepare.ts';
import { SelfUpdate } from '../../src/update/self-update.ts';
import { UpdateStore } from '../../src/update/state.ts';
import { HiveClient } from '../../src/wire/hive-client.ts';
import { capturingLog } from './log.ts';
import { tempDir } from './worker.ts';

export interface UpdateCheckRun {
  ready: PreparedUpdate | undefined;
  /** Every line logged, and the messages at error level and above. */
  lines: Array<{ level: number; msg: string }>;
  errors: string[];
  store: UpdateStore;
}

export async function checkForUpdateOnce(options: {
  serverUrl: string;
  /** Settings as HIVE_* variables (HIVE_SERVER_URL is set from serverUrl). */
  env?: Record<string, string>;
  /** The pinned release key (raw 32 bytes, base64url). */
  publicKey: string;
  workerId: string;
  platform: string;
  /** The executable the worker runs from (a patch's base); default a missing file. */
  executable?: string;
}): Promise<UpdateCheckRun> {
  const dataDir = tempDir('hive-update-');
  const { log, lines } = capturingLog('debug');
  const { settings } = loadSettings({
    argv: [],
    env: { HIVE_SERVER_URL: options.serverUrl, ...options.env },
    installDir: dataDir,
  });
  const client = new HiveClient({
    serverUrl: settings.serverUrl,
    token: settings.token,
    workerId: options.workerId,
    userAgent: 'hive-worker/1.0.0 (linux-x64)',
    connectTimeoutMs: 2000,
    requestTimeoutMs: settings.requestTimeoutMs,
    maxErrorSleepMs: 1000,
    tcpKeepAlive: true,
  });
  const store = new UpdateStore(dataDir);
  let ready: PreparedUpdate | undefined;
  const update = new SelfUpdate({
    client,
    store,
    settings,
    log,
    version: '1.0.0',
    platform: options.platform,
    publicKey: options.publicKey,
    executable: options.executable ?? join(dataDir, 'worker'),
    dataDir,
    env: {},
    supervisor: 'none',
    onReady: (prepared) => {
      ready = prepared;
    },
  });
  await update.check('test');
  await client.close();
  const errors = lines.filter((line) => line.level >= 50).map((line) => line.msg);
  return { ready, lines, errors, store };
}
