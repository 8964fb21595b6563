/**
 * Where a queued no-op task's CPU goes, process by process: the worker, the reference server (its
 * own process here) and the task process(es), with the worker's kernel share and its context
 * switches. Two runs, of 100 and 100 + N echo tasks, each with a fresh server and worker; the
 * figures are their difference divided by N, so start-up and the first tasks cancel out.
 * `node bench/cpu-split.ts [src|EXECUTABLE] [N=1000]` (src: the worker from source, with the test
 * fixtures' entry); HIVE_* settings in the environment reach the worker (e.g. HIVE_PREFETCH=1).
 * Reused task processes. Linux only (/proc). Wrap in flock /tmp/hive-bench.lock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../scripts/build.ts';
import { createAdminClient } from '../scripts/server/admin-client.ts';
import { serverMetric } from './measure.ts';

const target = process.argv[2] ?? 'src';
const N = Number(process.argv[3] ?? 1000);
if (!Number.isInteger(N) || N < 10) {
  console.error(`N must be a whole number of at least 10, got ${process.argv[3]}`);
  process.exit(2);
}

/** utime and stime of a process in ms (clock ticks of 10 ms); NaN once it is gone. */
function cpuOf(pid: number): { user: number; sys: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { user: Number(fields[11]) * 10, sys: Number(fields[12]) * 10 };
  } catch {
    return { user: Number.NaN, sys: Number.NaN };
  }
}

/** Voluntary and involuntary context switches of all of a process's threads. */
function switchesOf(pid: number): number {
  let count = 0;
  for (const thread of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${thread}/status`, 'utf8');
    for (const match of status.matchAll(/ctxt_switches:\s+(\d+)/g)) count += Number(match[1]);
  }
  return count;
}

function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

function exited(child: ChildProcess): Promise<unknown> {
  return child.exitCode === null
    ? new Promise((resolve) => child.once('exit', resolve))
    : Promise.resolve();
}

interface Run {
  wall: number;
  worker: number;
  workerSys: number;
  switches: number;
  server: number;
  tasks: number;
}

async function run(count: number): Promise<Run> {
  const server = spawn(
    process.execPath,
    [join(ROOT, 'scripts', 'server.ts'), '--port', '0', '--lease-check-ms', '1000'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve) => {
    server.stdout?.on('data', (data) => {
      const listening = /listening on (\S+)/.exec(String(data));
      if (listening?.[1] !== undefined) resolve(listening[1]);
    });
  });
  const admin = createAdminClient(url);
  for (let i = 0; i < count; i++)
    await admin.enqueue({ id: `split-${i}`, type: 'echo', payload: i });
  const serverBefore = cpuOf(server.pid ?? 0);
  const [file, args] =
    target === 'src'
      ? [process.execPath, [join(ROOT, 'test', 'fixtures', 'entry.ts')]]
      : [target, []];
  const worker = spawn(file, args, {
    env: {
      HIVE_TASKS_PER_PROCESS: '100000',
      ...process.env,
      HIVE_SERVER_URL: url,
      HIVE_DATA_DIR: mkdtempSync(join(tmpdir(), 'hive-cpu-split-')),
      HIVE_WAIT_SEC: '0',
      HIVE_NO_TASK_SLEEP: '5',
      HIVE_LOG_LEVEL: 'warn',
    },
    stdio: 'ignore',
  });
  const startedAt = Date.now();
  const taskCpu = new Map<number, number>();
  const sampleTasks = () => {
    for (const pid of childrenOf(worker.pid ?? 0)) {
      const { user, sys } = cpuOf(pid);
      if (!Number.isNaN(user)) taskCpu.set(pid, user + sys);
    }
  };
  while ((await serverMetric(url, 'hive_server_results_total')) < count) {
    sampleTasks();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  sampleTasks();
  // To the last result recorded (the server's clock, whole milliseconds), not to this loop's
  // 200 ms look: that made the figure a multiple of 0.2 ms a task at N = 1000.
  const recorded = (await admin.tasks()).map((task) =>
    Date.parse(task.results[0]?.receivedAt ?? ''),
  );
  const wall = Math.max(...recorded) - startedAt;
  const workerCpu = cpuOf(worker.pid ?? 0);
  const serverCpu = cpuOf(server.pid ?? 0);
  const result: Run = {
    wall,
    worker: workerCpu.user + workerCpu.sys,
    workerSys: workerCpu.sys,
    switches: switchesOf(worker.pid ?? 0),
    server: serverCpu.user + serverCpu.sys - serverBefore.user - serverBefore.sys,
    tasks: [...taskCpu.values()].reduce((sum, ms) => sum + ms, 0),
  };
  worker.kill('SIGTERM');
  await exited(worker);
  server.kill('SIGTERM');
  await exited(server);
  return result;
}

const loadAtStart = loadavg()[0]?.toFixed(2);
const small = await run(100);
const large = await run(100 + N);
const per = (key: keyof Run) => ((large[key] - small[key]) / N).toFixed(2);
console.log(
  `per task over ${N} (${target}): wall ${per('wall')} ms; CPU: worker ${per('worker')} ms ` +
    `(kernel ${per('workerSys')}), server ${per('server')} ms, task process ${per('tasks')} ms; ` +
    `worker context switches ${per('switches')}; load ${loadAtStart} → ${loadavg()[0]?.toFixed(2)}`,
);
