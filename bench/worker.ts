/**
 * `npm run bench`: the worker's costs on the built Linux executable against the reference server on
 * 127.0.0.1, each beside its floor measured in the same run (median, min, max). Prints a table and
 * writes bench/results.json. No timed assertions live in the tests: this is where speed is judged.
 * BENCH_EXE=<file> measures that executable instead of building this tree's (an A/B against an
 * older build); such a run writes no results file.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import AdmZip from 'adm-zip';
import { ROOT } from '../scripts/build.ts';
import { createAdminClient } from '../scripts/server/admin-client.ts';
import { startServer } from '../scripts/server/start.ts';
import { tempDir } from '../test/helpers/worker.ts';
import {
  benchExecutable,
  dropFromPageCache,
  type Figure,
  machine,
  ms,
  printFigures,
  type Stats,
  serverMetric,
  startHiveWorker,
  stats,
  stopProcess,
  treeMemory,
} from './measure.ts';
import { taskProcessOf, timeRun, timeTaskProcess } from './process-timing.ts';

const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const TASKS = 30;
const GAP_MS = 250;
const THROUGHPUT_TASKS = 40;
const NODE = process.execPath;

function repeat(times: number, sample: () => number): Stats {
  sample();
  return stats(Array.from({ length: times }, sample));
}

type Admin = ReturnType<typeof createAdminClient>;

/**
 * Per-task overhead, one task at a time: each task is enqueued only after the previous result is
 * stored, GAP_MS later, so a worker that long-polls gets it at once. Measured on the server's
 * clock from the claim answered (delivery) to the result accepted.
 */
async function oneAtATime(admin: Admin, prefix: string): Promise<Stats> {
  const times: number[] = [];
  for (let i = 0; i < TASKS; i++) {
    await delay(GAP_MS);
    const task = await admin.enqueue({ id: `${prefix}${i}`, type: 'echo', payload: i });
    const done = await admin.waitFor(async () => {
      const now = await admin.task(task.id);
      return now.results.length > 0 ? now : undefined;
    }, 30_000);
    times.push(
      Date.parse(done.results[0]?.receivedAt ?? '') -
        Date.parse(done.deliveries.at(-1)?.deliveredAt ?? ''),
    );
  }
  return stats(times.slice(1)); // the first one may wait for the worker's first spare
}

/** Tasks a second over a queue of `count` tasks waiting before the worker starts. */
async function throughput(
  admin: Admin,
  start: () => ChildProcess,
  prefix: string,
  count: number,
  task: { type: string; payload: unknown },
): Promise<number> {
  for (let i = 0; i < count; i++) await admin.enqueue({ id: `${prefix}${i}`, ...task });
  const worker = start();
  const done = await admin.waitFor(async () => {
    const tasks = (await admin.tasks()).filter((one) => one.id.startsWith(prefix));
    return tasks.every((one) => one.results.length > 0) ? tasks : undefined;
  }, 120_000);
  await stopProcess(worker);
  const first = Math.min(...done.map((one) => Date.parse(one.deliveries[0]?.deliveredAt ?? '')));
  const last = Math.max(...done.map((one) => Date.parse(one.results[0]?.receivedAt ?? '')));
  return count / ((last - first) / 1000);
}

/** A single executable of this Node whose whole script is an empty setInterval. */
function buildEmptySea(): string {
  const dir = tempDir('hive-bench-sea-');
  writeFileSync(join(dir, 'main.cjs'), 'setInterval(() => {}, 1000);\n');
  const output = join(dir, 'empty-sea');
  const config = {
    main: 'main.cjs',
    output,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
  };
  writeFileSync(join(dir, 'sea.json'), JSON.stringify(config));
  const built = spawnSync(NODE, ['--build-sea', 'sea.json'], { cwd: dir, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`cannot build the empty SEA: ${built.stderr}`);
  return output;
}

async function main(): Promise<void> {
  const given = process.env.BENCH_EXE;
  const exe = await benchExecutable(given);
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  const admin = createAdminClient(server.url);
  const figures: Figure[] = [];
  const startWorker = (env: Record<string, string>, url = server.url) =>
    startHiveWorker(exe, url, env);
  const floorStart = repeat(30, () => timeRun(NODE, ['-e', '0']));

  // 0. Start-up, first: before the idle phase drops the binaries from the page cache.
  console.log('start-up…');
  const version = repeat(30, () => timeRun(exe, ['--version']));
  figures.push(versusFloor('start-up: worker --version', version, 'node -e 0', floorStart, 1.3));
  const taskProcess: number[] = [];
  for (let i = 0; i < 20; i++) taskProcess.push(await timeTaskProcess(taskProcessOf(exe)));
  figures.push({
    ...versusFloor(
      'task process start, to its ready message',
      stats(taskProcess),
      'node -e 0',
      floorStart,
      1.3,
    ),
    target: '(for the record)',
    met: undefined,
  });

  // 1. Per-task overhead, one at a time: a fresh process started for each task (no spare)…
  console.log('per-task overhead…');
  const cold = startWorker({ HIVE_WARM_START: 'false' });
  await delay(1500);
  const coldTask = await oneAtATime(admin, 'cold-');
  await stopProcess(cold);
  figures.push(
    versusFloor(
      'per-task overhead, no-op task, one at a time',
      coldTask,
      'node -e 0',
      floorStart,
      1.2,
    ),
  );
  // …and with a warm child: the task's process was started while the previous task ran.
  const warm = startWorker({});
  await delay(1500);
  const warmTask = await oneAtATime(admin, 'warm-');
  await stopProcess(warm);
  const rtts: number[] = [];
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    for (let j = 0; j < 2; j++) await (await fetch(`${server.url}metrics`)).text();
    rtts.push(performance.now() - started);
  }
  const twoTrips = stats(rtts);
  figures.push({
    name: 'per-task overhead with a warm child, one at a time (each task still a fresh process)',
    value: ms(warmTask),
    floor: 'two loopback HTTP round trips',
    floorValue: ms(twoTrips),
    ratio: warmTask.median / twoTrips.median,
    target: '≤ 5 ms median',
    met: warmTask.median <= 5,
  });

  // 2. Throughput with CONCURRENCY = 2 against 1, on tasks that wait (sleep 100 ms) and, for
  // the record, on no-op tasks (bound by starting processes on this machine's cores).
  console.log('throughput…');
  /**
   * Tasks a second with CONCURRENCY = 2 against 1, over THROUGHPUT_TASKS tasks of one kind;
   * judged against `minRatio` when given, else for the record.
   */
  const concurrencyFigure = async (
    kind: string,
    prefix: string,
    task: { type: string; payload: unknown },
    minRatio?: number,
  ): Promise<Figure> => {
    const one = await throughput(
      admin,
      () => startWorker({}),
      `${prefix}1-`,
      THROUGHPUT_TASKS,
      task,
    );
    const two = await throughput(
      admin,
      () => startWorker({ HIVE_CONCURRENCY: '2' }),
      `${prefix}2-`,
      THROUGHPUT_TASKS,
      task,
    );
    const ratio = two / one;
    return {
      name: `tasks/s with CONCURRENCY = 2 (${kind})`,
      value: `${two.toFixed(1)}/s`,
      floor: 'one at a time (CONCURRENCY = 1)',
      floorValue: `${one.toFixed(1)}/s`,
      ratio,
      ...(minRatio === undefined
        ? { target: '(for the record)' }
        : { target: `≥ ${minRatio}× one-at-a-time`, met: ratio >= minRatio }),
    };
  };
  figures.push(
    await concurrencyFigure(
      'tasks that wait 100 ms',
      'c',
      { type: 'sleep', payload: { ms: 100 } },
      1.8,
    ),
    await concurrencyFigure('no-op tasks: process starts on 2 cores', 'n', {
      type: 'echo',
      payload: 0,
    }),
  );

  // 3. Idle: memory and CPU over IDLE_SECONDS, beside an empty Node process. The NO_TASK_SLEEP 5
  // worker polls a second server, so the first one counts the long-polling worker's claims only.
  console.log(`idle for ${IDLE_SECONDS} s…`);
  const other = await startServer({ port: 0, leaseCheckMs: 100 });
  const emptySeaFile = buildEmptySea();
  for (const file of [exe, NODE, emptySeaFile]) dropFromPageCache(file);
  const idleLong = startWorker({});
  const idleShort = startWorker({ HIVE_WAIT_SEC: '0' }, other.url);
  const empty = spawn(NODE, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const emptySea = spawn(emptySeaFile, [], { stdio: 'ignore' });
  await delay(2000);
  const claimsBefore = await serverMetric(server.url, 'hive_server_claims_total');
  const cpuStart = treeMemory(idleShort.pid ?? 0).cpuSec;
  await delay(IDLE_SECONDS * 1000);
  const longTree = treeMemory(idleLong.pid ?? 0);
  const emptyTree = treeMemory(empty.pid ?? 0);
  const emptySeaTree = treeMemory(emptySea.pid ?? 0);
  const cpuPercent = ((treeMemory(idleShort.pid ?? 0).cpuSec - cpuStart) / IDLE_SECONDS) * 100;
  const claimsPerMinute =
    ((await serverMetric(server.url, 'hive_server_claims_total')) - claimsBefore) /
    (IDLE_SECONDS / 60);
  await Promise.all([idleLong, idleShort, empty, emptySea].map((child) => stopProcess(child)));
  await other.close();
  const memory = (tree: ReturnType<typeof treeMemory>) =>
    `${tree.rssMb.toFixed(1)} MB (anonymous ${tree.anonMb.toFixed(1)}, file-backed ${tree.fileMb.toFixed(1)})`;
  figures.push({
    name: `idle resident memory after ${IDLE_SECONDS} s (worker + children)`,
    value: memory(longTree),
    floor: 'node, empty setInterval',
    floorValue: memory(emptyTree),
    ratio: longTree.rssMb / emptyTree.rssMb,
    target: '≤ 1.25×',
    met: longTree.rssMb <= 1.25 * emptyTree.rssMb,
  });
  figures.push({
    name: `idle resident memory after ${IDLE_SECONDS} s, against a single executable doing nothing`,
    value: memory(longTree),
    floor: 'a SEA of the same Node whose script is an empty setInterval',
    floorValue: memory(emptySeaTree),
    ratio: longTree.rssMb / emptySeaTree.rssMb,
    target: '(for the record)',
  });
  figures.push({
    name: `idle CPU over ${IDLE_SECONDS} s, NO_TASK_SLEEP 5 s`,
    value: `${cpuPercent.toFixed(3)} % of a core`,
    floor: '—',
    floorValue: '—',
    target: '≤ 0.2 %',
    met: cpuPercent <= 0.2,
  });
  figures.push({
    name: 'idle claims a minute, long polling (WAIT_SEC 25)',
    value: claimsPerMinute.toFixed(1),
    floor: '60 / waitSec',
    floorValue: (60 / 25).toFixed(1),
    target: '≤ 60 / waitSec',
    met: claimsPerMinute <= 60 / 25 + 0.5, // one claim more or less, by where the window falls
  });

  // 4. Enqueue → task started (the worker's own startedAt), with long polling.
  console.log('long-poll latency…');
  const poller = startWorker({});
  await delay(1500);
  const latencies: number[] = [];
  for (let i = 0; i < 15; i++) {
    await delay(200 + Math.random() * 300);
    const task = await admin.enqueue({ id: `latency-${i}`, type: 'echo', payload: i });
    const done = await admin.waitFor(async () => (await admin.task(task.id)).results[0], 10_000);
    latencies.push(Date.parse(done.body.startedAt) - Date.parse(task.createdAt));
  }
  await stopProcess(poller);
  const latency = stats(latencies);
  figures.push({
    name: 'enqueue → task started, long polling (WAIT_SEC 25)',
    value: ms(latency),
    floor: '—',
    floorValue: '—',
    target: '≤ 50 ms median',
    met: latency.median <= 50,
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
  printFigures(figures);
  if (given !== undefined && given !== '') {
    console.log(`(BENCH_EXE ${given}: bench/results.json not written)`);
    return;
  }
  writeFileSync(
    join(ROOT, 'bench', 'results.json'),
    `${JSON.stringify({ measuredAt: new Date().toISOString(), machine: machine(), figures }, null, 2)}\n`,
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

await main();
