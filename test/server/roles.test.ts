import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createAdminClient,
  fakeWorker,
  startTestServer,
  type TestServer,
} from '../helpers/server.ts';
import { tempDir } from '../helpers/worker.ts';

const SERVER_SCRIPT = fileURLToPath(new URL('../../scripts/server.ts', import.meta.url));
const ADMIN = 'admin-secret-1';
const WORKER_1 = 'worker-secret-1';
const WORKER_2 = 'worker-secret-2';

let server: TestServer;
before(async () => {
  server = await startTestServer({ workerTokens: [WORKER_1, WORKER_2], adminToken: ADMIN });
});
after(() => server.close());

function call(path: string, token: string | undefined, method = 'GET', body?: unknown) {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(new URL(path, server.url), {
    method,
    headers,
    body: body === undefined ? null : JSON.stringify(body),
  });
}

test('a worker token on an admin route is 403, and enqueues nothing', async () => {
  for (const token of [WORKER_1, WORKER_2]) {
    const listed = await call('admin/tasks', token);
    assert.equal(listed.status, 403);
    assert.match(((await listed.json()) as { error: string }).error, /admin token/);
    const enqueue = await call('admin/tasks', token, 'POST', { id: 'sneaky', type: 'echo' });
    assert.equal(enqueue.status, 403);
    assert.equal((await call('admin/results', token)).status, 403);
  }
  assert.deepEqual(await server.admin.tasks(), []);
});

test('no token is 401 on both kinds of route; an unknown one 403', async () => {
  assert.equal((await call('admin/tasks', undefined)).status, 401);
  const claim = await fakeWorker(server.url).claim(['echo']);
  assert.equal(claim.status, 401);
  assert.equal((await call('admin/tasks', 'nope')).status, 403);
  assert.equal((await fakeWorker(server.url, { token: 'nope' }).claim(['echo'])).status, 403);
});

test('the admin token works on admin routes and on worker routes; worker tokens on worker routes', async () => {
  const admin = createAdminClient(server.url, { token: ADMIN });
  await admin.enqueue({ id: 'r-1', type: 'echo', payload: { x: 1 } });
  const byWorker = await fakeWorker(server.url, { token: WORKER_2 }).claim(['echo']);
  assert.equal(byWorker.status, 200);
  assert.equal((await admin.task('r-1')).state, 'leased');
  const byAdmin = await fakeWorker(server.url, { token: ADMIN, workerId: 'w-admin' }).claim([
    'echo',
  ]);
  assert.equal(byAdmin.status, 204);
  assert.equal((await call('metrics', WORKER_1)).status, 200);
});

/** Runs the server CLI until it prints its listening line or exits; then stops it. */
async function runCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; url?: string }> {
  const child = spawn(process.execPath, [SERVER_SCRIPT, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HIVE_SERVER_TOKEN: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  let url: string | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const lines = createInterface({ input: child.stdout });
  const listening = new Promise<void>((resolve) => {
    lines.on('line', (line) => {
      stdout += `${line}\n`;
      url ??= /listening on (\S+)/.exec(line)?.[1];
      if (url !== undefined) resolve();
    });
  });
  const outcome = await Promise.race([listening.then(() => 'listening'), exited]);
  if (outcome === 'listening') {
    // Stderr lines printed right after the listening line are let in before stopping.
    await new Promise((resolve) => setTimeout(resolve, 100));
    child.kill('SIGTERM');
  }
  const code = await exited;
  return { code: outcome === 'listening' ? null : code, stdout, stderr, ...(url && { url }) };
}

test('beyond loopback without both token files, the server refuses to start and says why', async () => {
  const dir = tempDir('hive-roles-');
  const workerFile = join(dir, 'workers');
  writeFileSync(workerFile, `${WORKER_1}\n`);
  const bare = await runCli(['--host', '0.0.0.0']);
  assert.equal(bare.code, 1);
  assert.match(bare.stderr, /refusing to listen on 0\.0\.0\.0/);
  assert.match(bare.stderr, /--token-file.*--admin-token-file.*--insecure/s);
  const workersOnly = await runCli(['--host', '0.0.0.0', '--token-file', workerFile]);
  assert.equal(workersOnly.code, 1);
  assert.match(workersOnly.stderr, /without an admin token \(--admin-token-file\)/);
  // The old single token is both roles at once: it does not count as separate tokens.
  const legacy = await runCli(['--host', '0.0.0.0', '--token', 'one-for-all']);
  assert.equal(legacy.code, 1);
});

test('--insecure starts beyond loopback, with a warning', async () => {
  const run = await runCli(['--host', '0.0.0.0', '--insecure']);
  assert.equal(run.code, null, run.stderr);
  assert.match(run.stdout, /^hive-server listening on http:\/\/0\.0\.0\.0:\d+\/api\/$/m);
  assert.match(run.stderr, /WARNING: listening on 0\.0\.0\.0 with --insecure/);
});

test('token files: one or more worker files (comments skipped), one admin token; roles kept apart', async () => {
  const dir = tempDir('hive-roles-');
  const files = { a: join(dir, 'a'), b: join(dir, 'b'), admin: join(dir, 'admin') };
  writeFileSync(files.a, `# workers of site A\n${WORKER_1}\n\n`);
  writeFileSync(files.b, `${WORKER_2}\r\n`);
  writeFileSync(files.admin, `${ADMIN}\n`);
  const run = await runCliAndProbe(
    ['--host', '0.0.0.0', '--token-file', files.a, '--token-file', files.b],
    ['--admin-token-file', files.admin],
  );
  assert.deepEqual(run, { stderr: '', worker1: 204, worker2: 204, workerOnAdmin: 403, admin: 200 });
  const twoAdmins = join(dir, 'two');
  writeFileSync(twoAdmins, 'x\ny\n');
  const refused = await runCli(['--admin-token-file', twoAdmins]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /to hold one token, it has 2/);
});

/** Starts the CLI with `args`, probes it over 127.0.0.1 with each kind of token, stops it. */
async function runCliAndProbe(...args: string[][]) {
  const child = spawn(process.execPath, [SERVER_SCRIPT, '--port', '0', ...args.flat()], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const match = /listening on http:\/\/[^:]+:(\d+)\//.exec(line);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error(`server exited: ${stderr}`)));
  });
  const url = `http://127.0.0.1:${port}/api/`;
  const claim = async (token: string) => (await fakeWorker(url, { token }).claim(['echo'])).status;
  const admin = async (token: string) =>
    (await fetch(new URL('admin/tasks', url), { headers: { authorization: `Bearer ${token}` } }))
      .status;
  const result = {
    worker1: await claim(WORKER_1),
    worker2: await claim(WORKER_2),
    workerOnAdmin: await admin(WORKER_1),
    admin: await admin(ADMIN),
  };
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return { stderr, ...result };
}

test('only an admin token: worker routes stay open, admin routes need it; only worker tokens: admin routes refused', async () => {
  const adminOnly = await startTestServer({ adminToken: ADMIN });
  try {
    assert.equal((await fakeWorker(adminOnly.url).claim(['echo'])).status, 204);
    assert.equal((await fetch(new URL('admin/tasks', adminOnly.url))).status, 401);
    assert.deepEqual(await adminOnly.admin.tasks(), []);
  } finally {
    await adminOnly.close();
  }
  const workersOnly = await startTestServer({ workerTokens: [WORKER_1] });
  try {
    assert.equal((await fakeWorker(workersOnly.url).claim(['echo'])).status, 401);
    const auth = { authorization: `Bearer ${WORKER_1}` };
    const refused = await fetch(new URL('admin/tasks', workersOnly.url), { headers: auth });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: string }).error, /--admin-token-file/);
  } finally {
    await workersOnly.close();
  }
});
