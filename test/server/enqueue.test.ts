import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/worker.ts';

const ENQUEUE = fileURLToPath(new URL('../../scripts/enqueue.ts', import.meta.url));
const ADMIN = 'enqueue-admin-token';
const WORKER = 'enqueue-worker-token';

let server: TestServer;
const dir = tempDir('hive-enqueue-');
const adminFile = join(dir, 'admin');
const workerFile = join(dir, 'worker');
before(async () => {
  writeFileSync(adminFile, `${ADMIN}\n`);
  writeFileSync(workerFile, `${WORKER}\n`);
  server = await startTestServer({ adminToken: ADMIN, workerTokens: [WORKER] });
});
after(() => server.close());

async function enqueue(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [ENQUEUE, ...args], {
      env: { ...process.env, HIVE_ADMIN_TOKEN: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('enqueues N tasks of a type with a payload and prints their ids', async () => {
  const run = await enqueue(
    ...['--server', server.url, '--admin-token-file', adminFile, '--type', 'echo'],
    ...['--payload', '{"x":1,"note":"<b>hi</b>"}', '--count', '3', '--timeout-sec', '30'],
  );
  assert.equal(run.code, 0, run.stderr);
  const ids = run.stdout.trim().split('\n');
  assert.equal(ids.length, 3);
  const tasks = await server.admin.tasks();
  assert.deepEqual(
    tasks.map((task) => [task.id, task.type, task.payload, task.timeoutSec, task.state]),
    ids.map((id) => [id, 'echo', { x: 1, note: '<b>hi</b>' }, 30, 'queued']),
  );
  assert.match(run.stderr, /3 task\(s\) of type echo/);
});

test('a payload read from a file, and the token from HIVE_ADMIN_TOKEN', async () => {
  const payloadFile = join(dir, 'payload.json');
  writeFileSync(payloadFile, '{"text":"up 1\\n"}');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [ENQUEUE, '--server', server.url, '--type', 'prom_pars', '--payload', `@${payloadFile}`],
    { env: { ...process.env, HIVE_ADMIN_TOKEN: ADMIN } },
  );
  const task = await server.admin.task(stdout.trim());
  assert.deepEqual(task.payload, { text: 'up 1\n' });
});

test('a worker token is refused: exit 1, nothing enqueued, the answer shown', async () => {
  const before = (await server.admin.tasks()).length;
  const run = await enqueue(
    ...['--server', server.url, '--admin-token-file', workerFile, '--type', 'echo'],
  );
  assert.equal(run.code, 1);
  assert.match(run.stderr, /0 of 1 enqueued, then: .*403.*admin token/);
  assert.equal((await server.admin.tasks()).length, before);
});

test('bad arguments: exit 2, every problem on its own line', async () => {
  const run = await enqueue('--payload', '{oops', '--count', 'two', '--server', server.url);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /Expected --type/);
  assert.match(run.stderr, /Expected --count to be a whole number/);
  assert.match(run.stderr, /Expected --payload to be JSON/);
});
