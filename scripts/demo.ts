/**
 * `npm run demo`: the reference server on 127.0.0.1 (a free port), a handful of real tasks, the
 * worker (from source) until they are all done, then a table of task → status → output.
 * Exits 0 when every task ended as expected, 1 otherwise.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createAdminClient } from './server/admin-client.ts';
import { startServer } from './server/start.ts';
import type { AdminTask } from './server/views.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const DEADLINE_MS = 90_000;

interface DemoTask {
  id: string;
  type: string;
  payload: unknown;
  timeoutSec?: number;
  leaseSec?: number;
  /** What the demo shows: the status it must end in. */
  expect: string;
}

/**
 * The worker's TASK_MAX_HEAP in the demo, in MB: room for every task but `crash`, whose exposition
 * parses into far more than that — its process runs out of memory and dies, as a real one would.
 */
const DEMO_TASK_MAX_HEAP = '32';
const BIG_EXPOSITION_LINES = 400_000;

function demoTasks(serverUrl: string, exporterUrl: string): DemoTask[] {
  return [
    {
      id: 'hello',
      type: 'echo',
      payload: { greeting: 'hello from the demo' },
      expect: 'succeeded',
    },
    { id: 'nap', type: 'sleep', payload: { ms: 700 }, expect: 'succeeded' },
    {
      id: 'scrape-server',
      type: 'prom_pars',
      payload: { url: `${serverUrl}metrics`, families: ['hive_server_tasks'] },
      expect: 'succeeded',
    },
    {
      id: 'scrape-404',
      type: 'prom_pars',
      payload: { url: `${serverUrl}no-such-page` },
      expect: 'failed',
    },
    { id: 'crash', type: 'prom_pars', payload: { url: exporterUrl }, expect: 'failed' },
    { id: 'too-slow', type: 'sleep', payload: { ms: 60_000 }, timeoutSec: 1, expect: 'timed_out' },
    { id: 'cancel-me', type: 'sleep', payload: { ms: 60_000 }, leaseSec: 2, expect: 'cancelled' },
    { id: 'bad-payload', type: 'sleep', payload: { ms: 'soon' }, expect: 'rejected' },
    { id: 'unknown-type', type: 'resize_image', payload: { width: 64 }, expect: 'rejected' },
  ];
}

async function main(): Promise<number> {
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  const exporter = await startBigExporter();
  const admin = createAdminClient(server.url);
  const dataDir = mkdtempSync(join(tmpdir(), 'hive-demo-'));
  console.log(`reference server on ${server.url}; worker data in ${dataDir}\n`);
  const tasks = demoTasks(server.url, exporter.url);
  for (const { expect: _expect, ...task } of tasks) await admin.enqueue(task);
  // The reference server sends only types the worker lists; make it hand over an unknown one,
  // as a server that ignores the list would, to show the worker rejecting it.
  await admin.faults([
    {
      route: 'claim',
      status: 200,
      body: JSON.stringify({
        task: { id: 'unknown-type', type: 'resize_image', payload: { width: 64 } },
      }),
    },
  ]);

  const worker = spawn(process.execPath, [WORKER_ENTRY], {
    env: {
      ...process.env,
      HIVE_SERVER_URL: server.url,
      HIVE_DATA_DIR: dataDir,
      HIVE_NO_TASK_SLEEP: '0.5',
      HIVE_WAIT_SEC: '2',
      HIVE_KILL_GRACE: '1',
      HIVE_TASK_MAX_HEAP: DEMO_TASK_MAX_HEAP,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (chunk: Buffer) => chunk.toString('utf8').replace(/^(?=.)/gm, '  worker │ ');
  worker.stdout.on('data', (chunk: Buffer) => process.stdout.write(prefix(chunk)));
  worker.stderr.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
  const exited = new Promise<number | null>((resolve) =>
    worker.on('close', (code) => resolve(code)),
  );

  let finished: AdminTask[] = [];
  try {
    finished = await waitUntilDone(admin, tasks, exited);
  } finally {
    worker.kill('SIGTERM');
    const code = await exited;
    await server.close();
    exporter.server.close();
    rmSync(dataDir, { recursive: true, force: true });
    console.log(`\nworker exited with code ${code}; server stopped\n`);
  }
  return printTable(tasks, finished);
}

/** Polls the server until every task has a result; cancels `cancel-me` once it runs. */
async function waitUntilDone(
  admin: ReturnType<typeof createAdminClient>,
  tasks: DemoTask[],
  workerExited: Promise<number | null>,
): Promise<AdminTask[]> {
  let exitedEarly = false;
  void workerExited.then(() => {
    exitedEarly = true;
  });
  let cancelled = false;
  const deadline = Date.now() + DEADLINE_MS;
  while (Date.now() < deadline && !exitedEarly) {
    const all = await admin.tasks();
    const cancelMe = all.find((task) => task.id === 'cancel-me');
    if (!cancelled && cancelMe?.state === 'leased') {
      await admin.cancel('cancel-me');
      cancelled = true;
    }
    const done = all.filter((task) => task.results.length > 0);
    if (done.length === tasks.length) return all;
    await delay(200);
  }
  throw new Error(
    exitedEarly
      ? 'the worker exited early'
      : `not all tasks were done within ${DEADLINE_MS / 1000} s`,
  );
}

function printTable(tasks: DemoTask[], finished: AdminTask[]): number {
  const rows = tasks.map((task) => {
    const body = finished.find((done) => done.id === task.id)?.results.at(-1)?.body;
    const status = body?.status ?? '(none)';
    const detail =
      body === undefined
        ? ''
        : body.error === null
          ? JSON.stringify(body.output)
          : `${body.error.code}: ${body.error.message}`;
    return {
      task: task.id,
      type: task.type,
      status,
      detail: clip(detail.replace(/\s+/g, ' '), 70),
      ok: status === task.expect,
    };
  });
  const width = (key: 'task' | 'type' | 'status') =>
    Math.max(key.length, ...rows.map((row) => row[key].length));
  const line = (a: string, b: string, c: string, d: string) =>
    `${a.padEnd(width('task'))}  ${b.padEnd(width('type'))}  ${c.padEnd(width('status'))}  ${d}`;
  console.log(line('task', 'type', 'status', 'output / error'));
  console.log(
    line(
      '-'.repeat(width('task')),
      '-'.repeat(width('type')),
      '-'.repeat(width('status')),
      '-'.repeat(14),
    ),
  );
  for (const row of rows) console.log(line(row.task, row.type, row.status, row.detail));
  const wrong = rows.filter((row) => !row.ok);
  if (wrong.length > 0) {
    console.log(
      `\n${wrong.length} task(s) did not end as expected: ${wrong.map((row) => row.task).join(', ')}`,
    );
    return 1;
  }
  console.log(`\nall ${rows.length} tasks ended as expected`);
  return 0;
}

/** A metrics endpoint on 127.0.0.1 with an exposition too big to parse under DEMO_TASK_MAX_HEAP. */
async function startBigExporter(): Promise<{ server: Server; url: string }> {
  const lines = Array.from({ length: BIG_EXPOSITION_LINES }, (_, i) => `demo_big{i="${i}"} ${i}`);
  const body = `${lines.join('\n')}\n`;
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics` };
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
