/**
 * What a task process sees of its worker (docs/reliability.md, "What tasks see"), on a real worker
 * and real task processes: no HIVE_* variable and no token in its environment, and on Linux the
 * worker's /proc/<pid>/environ refused (EACCES). The worker runs as an unprivileged user when the
 * tests run as root: root may read any process's files, whatever the worker does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chownSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer, waitForResults } from '../helpers/server.ts';
import { FAST_SETTINGS, FIXTURE_ENTRY, tempDir } from '../helpers/worker.ts';

const TOKEN = 'tok-what-tasks-see-4b1d';
const NOBODY = 65534;
let server: TestServer;
before(async () => {
  server = await startTestServer({ token: TOKEN });
});
after(() => server?.close());

/** Runs the worker for one task (--once), as `nobody` when this test runs as root. */
async function runOnce(env: Record<string, string>): Promise<number | null> {
  const dataDir = tempDir('hive-sees-');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dataDir, NOBODY, NOBODY);
  const child = spawn(process.execPath, [FIXTURE_ENTRY, '--once'], {
    env: {
      ...process.env,
      ...FAST_SETTINGS,
      ...env,
      HIVE_SERVER_URL: server.url,
      HIVE_DATA_DIR: dataDir,
      HIVE_TOKEN: TOKEN,
      // Not a setting: every HIVE_* name stays with the worker, not only the ones it knows.
      HIVE_SOMETHING_ELSE: 'x',
    },
    stdio: 'ignore',
    ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  return await new Promise<number | null>((resolve) => child.once('exit', resolve));
}

test('a task sees no HIVE_* variable, no token, and cannot read the worker environ (Linux)', async () => {
  await server.admin.enqueue({ id: 'sees-1', type: 'sees', payload: { secret: TOKEN } });
  assert.equal(await runOnce({}), 0);
  const [result] = await waitForResults(server.admin, 'sees-', 1, 10_000);
  assert.equal(result?.body.status, 'succeeded', JSON.stringify(result?.body.error));
  const seen = result?.body.output as {
    hiveVariables: string[];
    secretInEnvironment: boolean;
    workerEnviron: string;
  };
  assert.deepEqual(seen.hiveVariables, []);
  assert.equal(seen.secretInEnvironment, false);
  if (process.platform === 'linux') assert.equal(seen.workerEnviron, 'EACCES');
});
