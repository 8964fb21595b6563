/**
 * `npm run bench`: the worker's costs on the built Linux executable against the reference server on
 * 127.0.0.1, each beside its floor measured in the same run (median, min, max). Prints a table and
 * writes bench/results.json. No timed assertions live in the tests: this is where speed is judged.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import AdmZip from 'adm-zip';
import { buildWorker, ROOT } from '../scripts/build.ts';
import { createAdminClient } from '../scripts/server/admin-client.ts';
import { startServer } from '../scripts/server/start.ts';
import { tempDir } from '../test/helpers/worker.ts';

interface Figure {
  name: string;
  value: Stats | number | string;
  floor: string;
  floorValue: Stats | number | string;
  ratio?: number;
  target: string;
  met?: boolean;
}
interface Stats {
  median: number;
  min: number;
  max: number;
}

const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const TASKS = 40;
const stats = (values: number[]): Stats => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    min: sorted[0] ?? 0,
    max: sorted.at(-1) ?? 0,
  };
};
const ms = (s: Stats) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
const NODE = process.execPath;

function timeSpawn(file: string, args: string[]): number {
  const started = performance.now();
  const run = spawnSync(file, args, { stdio: 'ignore' });
  if (run.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${run.status}`);
  return performance.now() - started;
}

function repeat(times: number, sample: () => number): Stats {
  sample();
  return stats(Array.from({ length: times }, sample));
}

/** Resident memory (kB → MB) and CPU seconds of a process and its children, from /proc. */
function processTree(pid: number): { rssMb: number; cpuSec: number } {
  const pids = [
    pid,
    ...spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .map(Number)
      .filter((n) => n > 0),
  ];
  let rssKb = 0;
  let ticks = 0;
  for (const one of pids) {
    try {
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${one}/status`, 'utf8'))?.[1] ?? 0);
      const fields = readFileSync(`/proc/${one}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return { rssMb: rssKb / 1024, cpuSec: ticks / 100 };
}

async function main(): Promise<void> {
  console.log('building the executable…');
  const [built] = await buildWorker({
    platforms: ['linux-x64'],
    outDir: join(ROOT, '.cache', 'bench'),
    log: () => {},
  });
  if (built === undefined) throw new Error('no build');
  const exe = built.file;
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  const admin = createAdminClient(server.url);
  const figures: Figure[] = [];
  const baseEnv = {
    ...process.env,
    HIVE_SERVER_URL: server.url,
    HIVE_NO_TASK_SLEEP: '5',
    HIVE_LOG_LEVEL: 'warn',
  };
  const startWorker = (env: Record<string, string>) =>
    spawn(exe, [], {
      env: { ...baseEnv, HIVE_DATA_DIR: tempDir('hive-bench-'), ...env },
      stdio: 'ignore',
    });

  // 1. Per-task overhead, one at a time: claim answered → result accepted (server clock).
  const floorStart = repeat(30, () => timeSpawn(NODE, ['-e', '0']));
  const busy = startWorker({ HIVE_WAIT_SEC: '25' });
  await delay(1500);
  for (let i = 0; i < TASKS; i++)
    await admin.enqueue({ id: `bench-${i}`, type: 'echo', payload: i });
  const done = await admin.waitFor(async () => {
    const tasks = (await admin.tasks()).filter((task) => task.id.startsWith('bench-'));
    return tasks.every((task) => task.results.length > 0) ? tasks : undefined;
  }, 120_000);
  const perTask = done
    .slice(2)
    .map(
      (task) =>
        Date.parse(task.results[0]?.receivedAt ?? '') -
        Date.parse(task.deliveries.at(-1)?.deliveredAt ?? ''),
    );
  const overhead = stats(perTask);
  busy.kill('SIGTERM');
  figures.push(
    versusFloor(
      'per-task overhead, no-op task (warm child)',
      overhead,
      'node -e 0',
      floorStart,
      1.2,
    ),
  );
  const rtts: number[] = [];
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    for (let j = 0; j < 2; j++) await (await fetch(`${server.url}metrics`)).text();
    rtts.push(performance.now() - started);
  }
  const twoTrips = stats(rtts);
  figures.push({
    name: 'per-task time with a warm child',
    value: ms(overhead),
    floor: 'two loopback HTTP round trips',
    floorValue: ms(twoTrips),
    ratio: overhead.median / twoTrips.median,
    target: '≤ 5 ms median',
    met: overhead.median <= 5,
  });
  figures.push({
    name: 'tasks/s with CONCURRENCY = 2',
    value: 'not built yet',
    floor: '2 × one-at-a-time',
    floorValue: `${(2000 / overhead.median).toFixed(0)}/s`,
    target: '≥ 1.8× one-at-a-time',
  });

  // 2. Idle: memory and CPU over IDLE_SECONDS, beside an empty Node process; long-poll requests.
  const claimsBefore = await claimCount(server.url);
  const idleLong = startWorker({ HIVE_WAIT_SEC: '25' });
  const idleShort = startWorker({ HIVE_WAIT_SEC: '0' });
  const empty = spawn(NODE, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await delay(2000);
  const cpuStart = processTree(idleShort.pid ?? 0).cpuSec;
  await delay(IDLE_SECONDS * 1000);
  const longRss = processTree(idleLong.pid ?? 0).rssMb;
  const emptyRss = processTree(empty.pid ?? 0).rssMb;
  const cpuPercent = ((processTree(idleShort.pid ?? 0).cpuSec - cpuStart) / IDLE_SECONDS) * 100;
  const claimsPerMinute = ((await claimCount(server.url)) - claimsBefore) / (IDLE_SECONDS / 60);
  for (const child of [idleLong, idleShort, empty]) child.kill('SIGTERM');
  figures.push({
    name: `idle resident memory after ${IDLE_SECONDS} s (worker + children)`,
    value: `${longRss.toFixed(1)} MB`,
    floor: 'node, empty setInterval',
    floorValue: `${emptyRss.toFixed(1)} MB`,
    ratio: longRss / emptyRss,
    target: '≤ 1.25×',
    met: longRss <= 1.25 * emptyRss,
  });
  figures.push({
    name: `idle CPU over ${IDLE_SECONDS} s, NO_TASK_SLEEP 5 s`,
    value: `${cpuPercent.toFixed(3)} % of a core`,
    floor: '—',
    floorValue: '—',
    target: '≤ 0.2 %',
    met: cpuPercent <= 0.2,
  });

  // 3. Start-up.
  const version = repeat(30, () => timeSpawn(exe, ['--version']));
  figures.push(versusFloor('start-up: worker --version', version, 'node -e 0', floorStart, 1.3));

  // 4. Enqueue → task started with long polling; idle requests a minute.
  const poller = startWorker({ HIVE_WAIT_SEC: '25' });
  await delay(1500);
  const latencies: number[] = [];
  for (let i = 0; i < 10; i++) {
    await delay(200 + Math.random() * 300);
    const task = await admin.enqueue({ id: `latency-${i}`, type: 'echo', payload: i });
    const delivered = await admin.waitFor(
      async () => (await admin.task(task.id)).deliveries[0],
      10_000,
    );
    latencies.push(Date.parse(delivered.deliveredAt) - Date.parse(task.createdAt));
  }
  poller.kill('SIGTERM');
  const latency = stats(latencies);
  figures.push({
    name: 'enqueue → task delivered, long polling (WAIT_SEC 25)',
    value: ms(latency),
    floor: '—',
    floorValue: '—',
    target: '≤ 50 ms median',
    met: latency.median <= 50,
  });
  figures.push({
    name: 'idle claims a minute, WAIT_SEC 25 (two idle workers counted: one long-polling, one at NO_TASK_SLEEP 5)',
    value: claimsPerMinute.toFixed(1),
    floor: '60 / waitSec per long-polling worker',
    floorValue: (60 / 25).toFixed(1),
    target: '≤ 60 / waitSec (long-polling worker)',
  });

  // 5. Release zip size against the zip of the bare Node binary.
  const zipOf = (file: string) => {
    const zip = new AdmZip();
    zip.addFile('x', readFileSync(file));
    return zip.toBuffer().length;
  };
  const workerZip = zipOf(exe);
  const nodeZip = zipOf(NODE);
  figures.push({
    name: 'release zip size',
    value: `${(workerZip / 1048576).toFixed(1)} MB`,
    floor: 'zip of the bare Node binary',
    floorValue: `${(nodeZip / 1048576).toFixed(1)} MB`,
    ratio: workerZip / nodeZip,
    target: '≤ 1.05×',
    met: workerZip <= 1.05 * nodeZip,
  });

  await server.close();
  print(figures);
  const machine = `${process.platform}-${process.arch}, ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores, Node ${process.versions.node}`;
  writeFileSync(
    join(ROOT, 'bench', 'results.json'),
    `${JSON.stringify({ measuredAt: new Date().toISOString(), machine, figures }, null, 2)}\n`,
  );
}

/** A figure judged as a ratio of medians against its floor. */
function versusFloor(
  name: string,
  value: Stats,
  floor: string,
  floorValue: Stats,
  maxRatio: number,
): Figure {
  const ratio = value.median / floorValue.median;
  return {
    name,
    value: ms(value),
    floor,
    floorValue: ms(floorValue),
    ratio,
    target: `≤ ${maxRatio}× the floor`,
    met: ratio <= maxRatio,
  };
}

async function claimCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('hive_server_claims_total'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

function print(figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.name,
    String(f.value),
    `${f.floor}: ${f.floorValue}`,
    f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}×`,
    f.target,
    f.met === undefined ? '' : f.met ? 'met' : 'MISSED',
  ]);
  const widths =
    rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  '));
}

await main();
