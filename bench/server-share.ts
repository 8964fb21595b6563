/**
 * `node bench/server-share.ts [tasks] [rounds]`: the reference server's OWN CPU per task, protocol
 * 1 against 1.1, with a bare undici client in another process running nothing (so the client's
 * cost is not counted). Paths: version 1 (claim, then result: two requests a task); 1.1 with the
 * next task in each result's answer (one request a task); 1.1 batches of 8 and 32 results, each
 * answer carrying the next batch. Prints one JSON line per round with the load average beside it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { request } from 'undici';
import { createAdminClient } from '../scripts/server/admin-client.ts';
import { startServer } from '../scripts/server/start.ts';
import type { Task } from '../src/wire/protocol.ts';
import { resultBody } from '../test/helpers/fake-worker.ts';

/** Results per request: 0 = version 1; 1 = a result with `next`; more = batches with `next`. */
const PATHS = { v1: 0, next: 1, batch8: 8, batch32: 32 } as const;
type PathName = keyof typeof PATHS;

const WORKER_ID = 'bench-share-00000000';

/** The client side: handles every task of `type` along `path`, then exits. */
async function runClient(url: string, type: string, path: PathName): Promise<void> {
  const headers = { 'content-type': 'application/json', 'x-hive-worker-id': WORKER_ID };
  async function post(to: string, body: unknown, extra: Record<string, string> = {}) {
    const answer = await request(new URL(to, url), {
      method: 'POST',
      headers: { ...headers, ...extra },
      body: JSON.stringify(body),
    });
    const text = await answer.body.text();
    return { status: answer.statusCode, json: text === '' ? undefined : JSON.parse(text) };
  }
  const claim = (max?: number) =>
    post('tasks/claim', {
      workerId: WORKER_ID,
      version: '0.0.0',
      platform: `${process.platform}-${process.arch}`,
      tasks: [type],
      waitSec: 0,
      ...(max === undefined ? {} : { max }),
    });
  const result = (task: Task) =>
    resultBody({
      workerId: WORKER_ID,
      workerVersion: '0.0.0',
      output: task.payload,
      attempt: task.attempt,
    });
  const size = PATHS[path];
  if (size === 0) {
    for (let answer = await claim(); answer.status === 200; answer = await claim()) {
      const body = result(answer.json.task);
      await post(`tasks/${answer.json.task.id}/result`, body, { 'idempotency-key': body.resultId });
    }
    return;
  }
  let tasks: Task[] = (await claim(size)).json?.tasks ?? [];
  while (tasks.length > 0) {
    const next = { max: size };
    if (size === 1) {
      const [task] = tasks as [Task];
      const body = { ...result(task), next };
      const answer = await post(`tasks/${task.id}/result`, body, {
        'idempotency-key': body.resultId,
      });
      tasks = answer.json.next.tasks;
    } else {
      const results = tasks.map((task) => ({ taskId: task.id, ...result(task) }));
      tasks = (await post('tasks/results', { workerId: WORKER_ID, results, next })).json.next.tasks;
    }
  }
}

/** The server side: per path, `count` tasks queued, then the server's CPU ms per task. */
async function measure(count: number, round: number): Promise<Record<string, number | string>> {
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  const admin = createAdminClient(server.url);
  const figures: Record<string, number | string> = {};
  try {
    for (const path of Object.keys(PATHS) as PathName[]) {
      const type = `${path}-${round}`;
      for (let i = 0; i < count; i++) await admin.enqueue({ id: `${type}-${i}`, type, payload: i });
      const before = process.cpuUsage();
      const client = spawn(
        process.execPath,
        [import.meta.filename, '--client', server.url, type, path],
        { stdio: 'inherit' },
      );
      await once(client, 'exit');
      const used = process.cpuUsage(before);
      figures[path] = Number(((used.user + used.system) / 1000 / count).toFixed(3));
      const left = (await admin.tasks()).filter((task) => task.id.startsWith(`${type}-`));
      if (left.some((task) => task.state !== 'done')) throw new Error(`${path}: a task not done`);
    }
  } finally {
    await server.close();
  }
  figures.load = loadavg()[0]?.toFixed(2) ?? '?';
  return figures;
}

const args = process.argv.slice(2);
if (args[0] === '--client') {
  const [, url = '', type = '', path = 'v1'] = args;
  await runClient(url, type, path as PathName);
} else {
  const count = Number(args[0] ?? 1000);
  const rounds = Number(args[1] ?? 3);
  for (let round = 1; round <= rounds; round++)
    console.log(JSON.stringify({ round, cpuMsPerTask: await measure(count, round) }));
}
