/**
 * `npm run bench:peers`: the Hive worker (the built Linux executable, against the reference server)
 * and BullMQ's sandboxed processor (its own Redis, bench/peers-bullmq.ts) on the same no-op task
 * (echo), in one run, side by side: per task with N queued at once, one task reaching an idle
 * worker end to end, and each worker's process tree after a minute idle, beside a bare Node
 * polling with undici. Prints a table; a run at the default sizes writes bench/peers.results.json.
 * Flags: --exe FILE (skip the build), --queued N, --rounds N (of the queued figure, BullMQ and ours
 * in turn; 3), --singles N, --idle-seconds N,
 * --reuse-setting NAME=VALUE (how the worker is told to reuse task processes, once it can),
 * --only fresh (the fresh-process figure and its spawn floor alone; writes no results file).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ROOT } from '../scripts/build.ts';
import { type AdminClient, createAdminClient } from '../scripts/server/admin-client.ts';
import { startServer } from '../scripts/server/start.ts';
import {
  benchExecutable,
  benchFlags,
  dropFromPageCache,
  type Figure,
  loadAverage,
  machine,
  mb,
  ms,
  onCleanup,
  printFigures,
  processMemory,
  runBench,
  serverMetric,
  startHiveWorker,
  stats,
  stopProcess,
  treeMemory,
} from './measure.ts';
import { BullmqSide, bullmqVersion, startRedis } from './peers-bullmq.ts';
import { taskProcessOf, timeTaskProcess } from './process-timing.ts';

const {
  sizes,
  strings: flags,
  isFullRun,
} = benchFlags(
  {
    queued: { default: 200, min: 2 },
    rounds: { default: 3, min: 1 },
    singles: { default: 30, min: 3 },
    'idle-seconds': { default: 60, min: 5 },
  },
  { exe: undefined, 'reuse-setting': 'HIVE_TASKS_PER_PROCESS=1000', only: undefined },
);
if (flags.only !== undefined && flags.only !== 'fresh') {
  console.error(`--only takes fresh, got ${JSON.stringify(flags.only)}`);
  process.exit(2);
}
const ONLY_FRESH = flags.only === 'fresh';
const QUEUED = sizes.queued;
const ROUNDS = sizes.rounds;
const SINGLES = sizes.singles;
const IDLE_SECONDS = sizes['idle-seconds'];
const reuse = /^(HIVE_[A-Z0-9_]+)=(.+)$/.exec(flags['reuse-setting'] ?? '');
if (reuse === null) {
  console.error(
    `--reuse-setting must be HIVE_NAME=value, got ${JSON.stringify(flags['reuse-setting'])}`,
  );
  process.exit(2);
}
const [, REUSE_NAME = '', REUSE_VALUE = ''] = reuse;
const GAP_MS = 250;

/**
 * `count` echo tasks enqueued before the worker starts, then run: milliseconds from the first
 * result recorded to the last, per task after the first (the first pays for the worker's start,
 * as BullMQ's first job pays for its sandbox's).
 */
async function hivePerTaskQueued(
  admin: AdminClient,
  url: string,
  start: () => ChildProcess,
  prefix: string,
): Promise<number> {
  return (await hivePerTaskQueuedWithCpu(admin, url, start, prefix)).perTask;
}

/** hivePerTaskQueued, and the CPU the worker process itself (not its task processes) used per task. */
async function hivePerTaskQueuedWithCpu(
  admin: AdminClient,
  url: string,
  start: () => ChildProcess,
  prefix: string,
): Promise<{ perTask: number; workerCpuMs: number }> {
  const before = await serverMetric(url, 'hive_server_results_total');
  for (let i = 0; i < QUEUED; i++)
    await admin.enqueue({ id: `${prefix}${i}`, type: 'echo', payload: i });
  const worker = start();
  // Looked at every 50 ms, as BullMQ's side looks at its count: the server shares this process,
  // and a metrics page rendered more often would take its time from the tasks measured.
  const deadline = Date.now() + 120_000;
  while ((await serverMetric(url, 'hive_server_results_total')) < before + QUEUED) {
    if (Date.now() > deadline) throw new Error(`${QUEUED} results not in within 120 s`);
    await delay(50);
  }
  const workerCpuMs = (processMemory(worker.pid ?? 0).cpuSec * 1000) / QUEUED;
  await stopProcess(worker);
  const received = (await admin.tasks())
    .filter((task) => task.id.startsWith(prefix))
    .map((task) => Date.parse(task.results[0]?.receivedAt ?? ''));
  return { perTask: (Math.max(...received) - Math.min(...received)) / (QUEUED - 1), workerCpuMs };
}

/**
 * QUEUED tasks handled by a bare undici client, nothing run or kept: protocol version 1 (claim,
 * then post the result: two requests a task) or 1.1 (each result's answer brings the next task: one
 * request a task, as our worker with one slot). Milliseconds per task, first result recorded to
 * last, as for the worker.
 */
async function protocolFloorPerTask(
  admin: AdminClient,
  url: string,
  protocol: '1' | '1.1' = '1',
): Promise<number> {
  // Version 1: bench/peers/protocol-client.mjs on echo tasks. 1.1: bench/server-share.ts's client,
  // one request a task (each result's answer carries the next task), on a type of its own.
  const prefix = protocol === '1' ? 'protocol-' : 'protocol-next-';
  const type = protocol === '1' ? 'echo' : 'floor-next';
  for (let i = 0; i < QUEUED; i++) await admin.enqueue({ id: `${prefix}${i}`, type, payload: i });
  const args =
    protocol === '1'
      ? [join(ROOT, 'bench', 'peers', 'protocol-client.mjs'), url, String(QUEUED)]
      : [join(ROOT, 'bench', 'server-share.ts'), '--client', url, type, 'next'];
  const client = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  onCleanup(() => stopProcess(client));
  await new Promise((resolve) => client.once('exit', resolve));
  const received = (await admin.tasks())
    .filter((task) => task.id.startsWith(prefix))
    .map((task) => Date.parse(task.results[0]?.receivedAt ?? ''));
  return (Math.max(...received) - Math.min(...received)) / (QUEUED - 1);
}

/** One echo task to the idle worker: from before the enqueue (bench clock) to the result stored. */
async function hiveOneTask(admin: AdminClient, id: string) {
  const before = Date.now();
  await admin.enqueue({ id, type: 'echo', payload: 0 });
  const done = await admin.waitFor(async () => {
    const task = await admin.task(id);
    return task.results.length > 0 ? task : undefined;
  }, 30_000);
  const received = Date.parse(done.results[0]?.receivedAt ?? '');
  return {
    endToEnd: received - before,
    claimToResult: received - Date.parse(done.deliveries.at(-1)?.deliveredAt ?? ''),
  };
}

const perTask = (value: number) => `${value.toFixed(2)} ms`;

interface QueuedRun {
  perTask: number;
  workerCpuMs: number;
}

/** The median of several rounds, per task and for the worker's CPU (each its own median). */
function medianRun(rounds: readonly QueuedRun[]): QueuedRun {
  return {
    perTask: stats(rounds.map((round) => round.perTask)).median,
    workerCpuMs: stats(rounds.map((round) => round.workerCpuMs)).median,
  };
}

/** "2.10 ms (median of 3 rounds: 1.98–2.41)", or the one figure of a single round. */
function perTaskOfRounds(rounds: readonly QueuedRun[]): string {
  const { median, min, max } = stats(rounds.map((round) => round.perTask));
  if (rounds.length === 1) return perTask(median);
  return `${perTask(median)} (median of ${rounds.length} rounds: ${min.toFixed(2)}–${max.toFixed(2)})`;
}
const idleMemory = (tree: ReturnType<typeof treeMemory>) =>
  `${mb(tree.privateMb)} private, ${mb(tree.rssMb)} RSS (${tree.processes} process${tree.processes === 1 ? '' : 'es'})`;

/**
 * The fresh-process figure against its spawn floor, the floor's 20 starts taken half just before
 * and half just after it: on a shared machine the load moves within minutes, and a floor taken
 * apart from the figure measured another machine.
 */
async function freshAgainstSpawnFloor(exe: string, admin: AdminClient, url: string) {
  const spawnTimes: number[] = [];
  for (let i = 0; i < 10; i++) spawnTimes.push(await timeTaskProcess(taskProcessOf(exe)));
  const freshPerTask = await hivePerTaskQueued(
    admin,
    url,
    () => startHiveWorker(exe, url),
    `fresh-${Date.now()}-`,
  );
  for (let i = 0; i < 10; i++) spawnTimes.push(await timeTaskProcess(taskProcessOf(exe)));
  const spawnFloor = stats(spawnTimes);
  const figure: Figure = {
    name: `per task, ${QUEUED} queued, fresh process per task (WARM_START)`,
    value: perTask(freshPerTask),
    floor: 'spawn floor: a task process started to its ready message',
    floorValue: ms(spawnFloor),
    ratio: freshPerTask / spawnFloor.median,
    target: '≤ 0.7× the spawn floor',
    met: freshPerTask <= 0.7 * spawnFloor.median,
  };
  return { freshPerTask, figure };
}

/** `--only fresh`: the fresh-process figure alone, with no BullMQ, Redis or idle window. */
async function mainFreshOnly(exe: string): Promise<void> {
  const loadAtStart = loadAverage();
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  onCleanup(() => server.close());
  const { figure } = await freshAgainstSpawnFloor(exe, createAdminClient(server.url), server.url);
  printFigures([figure]);
  console.log(`load average (1 min): ${loadAtStart} at the start, ${loadAverage()} at the end`);
}

async function main(): Promise<void> {
  const exe = await benchExecutable(flags.exe);
  if (ONLY_FRESH) return mainFreshOnly(exe);
  const loadAtStart = loadAverage();
  const redis = await startRedis();
  const bullmq = new BullmqSide(redis.port);
  const server = await startServer({ port: 0, leaseCheckMs: 100 });
  onCleanup(() => server.close());
  const admin = createAdminClient(server.url);
  const figures: Figure[] = [];
  console.log(
    `BullMQ ${bullmqVersion()} (sandboxed, concurrency 1) on redis-server ${redis.version}; the worker: ${exe}`,
  );

  // 1. Per task with QUEUED queued at once: BullMQ and ours reusing processes in turn, ROUNDS
  // times (this shared machine's slow and quick spells fall on both alike; the medians count),
  // then ours as it is (a fresh process per task, the next one started while a task runs).
  console.log(`per task, ${QUEUED} queued, ${ROUNDS} round(s)…`);
  const canReuse = spawnSync(exe, ['--help'], { encoding: 'utf8' }).stdout.includes(REUSE_NAME);
  const startReused = () => startHiveWorker(exe, server.url, { [REUSE_NAME]: REUSE_VALUE });
  const bullRounds: QueuedRun[] = [];
  const reusedRounds: QueuedRun[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    bullRounds.push(await bullmq.perTaskQueuedWithCpu(QUEUED));
    if (canReuse) {
      reusedRounds.push(
        await hivePerTaskQueuedWithCpu(admin, server.url, startReused, `reused-${round}-`),
      );
    }
  }
  const bull = medianRun(bullRounds);
  const bullPerTask = bull.perTask;
  const reused = canReuse ? medianRun(reusedRounds) : undefined;
  const reusedPerTask = reused?.perTask;
  // The same with each job's end on disk before BullMQ goes on (Redis's AOF, fsync always).
  const durableRedis = await startRedis({ durable: true });
  const durableBullPerTask = await new BullmqSide(durableRedis.port).perTaskQueued(QUEUED);
  const fresh = await freshAgainstSpawnFloor(exe, admin, server.url);
  const freshPerTask = fresh.freshPerTask;
  // The same with the server speaking protocol version 1 (two requests a task, no batches).
  server.setProtocol('1');
  const reusedV1 = canReuse
    ? await hivePerTaskQueuedWithCpu(admin, server.url, startReused, 'reused-v1-')
    : undefined;
  server.setProtocol('1.1');
  const protocolPerTask = await protocolFloorPerTask(admin, server.url);
  const protocol11PerTask = await protocolFloorPerTask(admin, server.url, '1.1');
  figures.push(
    {
      name: `per task, ${QUEUED} queued, reused processes (${REUSE_NAME}=${REUSE_VALUE})`,
      value:
        reusedPerTask === undefined
          ? `not available yet (the worker has no ${REUSE_NAME})`
          : perTaskOfRounds(reusedRounds),
      floor: 'BullMQ sandboxed',
      floorValue: perTaskOfRounds(bullRounds),
      ...(reusedPerTask === undefined
        ? {}
        : { ratio: reusedPerTask / bullPerTask, met: reusedPerTask <= bullPerTask }),
      target: '≤ 1.0× BullMQ sandboxed',
    },
    {
      name: `per task, ${QUEUED} queued, reused processes, protocol 1.1 against version 1`,
      value: reusedPerTask === undefined ? '—' : perTask(reusedPerTask),
      floor: 'the same worker, the server speaking version 1',
      floorValue: reusedV1 === undefined ? '—' : perTask(reusedV1.perTask),
      ...(reusedPerTask === undefined || reusedV1 === undefined
        ? {}
        : { ratio: reusedPerTask / reusedV1.perTask }),
      target: '(for the record)',
    },
    {
      name: `the worker process's own CPU per task, ${QUEUED} queued, reused (its start included)`,
      value: reused === undefined ? '—' : perTask(reused.workerCpuMs),
      floor: "BullMQ's worker process (its sandbox not counted)",
      floorValue: perTask(bull.workerCpuMs),
      ...(reused === undefined ? {} : { ratio: reused.workerCpuMs / bull.workerCpuMs }),
      target:
        '(measured; protocol 1: ' +
        (reusedV1 === undefined ? '—' : perTask(reusedV1.workerCpuMs)) +
        ')',
    },
    {
      name: `per task, ${QUEUED} queued, reused processes, against BullMQ on a Redis that fsyncs every write`,
      value: reusedPerTask === undefined ? '—' : perTask(reusedPerTask),
      floor: 'BullMQ sandboxed, redis-server --appendonly yes --appendfsync always',
      floorValue: perTask(durableBullPerTask),
      ...(reusedPerTask === undefined ? {} : { ratio: reusedPerTask / durableBullPerTask }),
      target:
        '(for the record: BullMQ with every job on disk; ours on disk until the server has it)',
    },
    {
      name: `per task, ${QUEUED} queued, reused processes, against the protocol floor`,
      value: reusedPerTask === undefined ? '—' : perTask(reusedPerTask),
      floor: 'a bare undici client claiming and posting results, running nothing',
      floorValue: perTask(protocolPerTask),
      ...(reusedPerTask === undefined ? {} : { ratio: reusedPerTask / protocolPerTask }),
      target: "(for the record: the server's own share of each task)",
    },
    {
      name: `per task, ${QUEUED} queued, reused processes, against the protocol 1.1 floor`,
      value: reusedPerTask === undefined ? '—' : perTask(reusedPerTask),
      floor: 'a bare undici client posting results whose answers bring the next task (1.1-c)',
      floorValue: perTask(protocol11PerTask),
      ...(reusedPerTask === undefined ? {} : { ratio: reusedPerTask / protocol11PerTask }),
      target: '(for the record: what the worker adds over the protocol it speaks)',
    },
    fresh.figure,
    {
      name: `per task, ${QUEUED} queued, fresh process per task, against BullMQ`,
      value: perTask(freshPerTask),
      floor: 'BullMQ sandboxed',
      floorValue: perTask(bullPerTask),
      ratio: freshPerTask / bullPerTask,
      target: '(for the record)',
    },
  );

  // 2. One task reaching an idle worker, both sides in turn (noise on this shared machine falls
  // on both alike). Both workers then stay idle for the memory figures.
  console.log(`one task reaching an idle worker, ${SINGLES} times each…`);
  for (const file of [exe, process.execPath]) dropFromPageCache(file);
  // Reused processes, as the target says: an idle worker keeps its task process (30 s).
  const hive = canReuse ? startReused() : startHiveWorker(exe, server.url);
  const bullQueue = `singles-${Date.now()}`;
  const bullWorker = await bullmq.startWorker(bullQueue);
  const queue = bullmq.queue(bullQueue);
  const events = bullmq.events(bullQueue);
  await events.waitUntilReady();
  await delay(1500);
  const hiveTimes: { endToEnd: number; claimToResult: number }[] = [];
  const bullTimes: number[] = [];
  for (let i = 0; i <= SINGLES; i++) {
    await delay(GAP_MS);
    hiveTimes.push(await hiveOneTask(admin, `single-${i}`));
    await delay(GAP_MS);
    bullTimes.push(await bullmq.oneTask(queue, events, i));
  }
  // The first of each starts a process (our first spare, BullMQ's sandbox): not an idle worker's.
  const hiveEndToEnd = stats(hiveTimes.slice(1).map((one) => one.endToEnd));
  const hiveClaimToResult = stats(hiveTimes.slice(1).map((one) => one.claimToResult));
  const bullEndToEnd = stats(bullTimes.slice(1));
  figures.push(
    {
      name: `one task reaching an idle worker, end to end (enqueued → result recorded)${canReuse ? `, reused processes (${REUSE_NAME}=${REUSE_VALUE})` : ''}`,
      value: ms(hiveEndToEnd),
      floor: 'BullMQ sandboxed (add → completion recorded in Redis)',
      floorValue: ms(bullEndToEnd),
      ratio: hiveEndToEnd.median / bullEndToEnd.median,
      target: '≤ 1.0× BullMQ sandboxed',
      met: hiveEndToEnd.median <= bullEndToEnd.median,
    },
    {
      name: `one task reaching an idle worker, claim answered → result recorded${canReuse ? ', reused processes' : ''}`,
      value: ms(hiveClaimToResult),
      floor: '—',
      floorValue: '—',
      target: '≤ 5 ms median',
      met: hiveClaimToResult.median <= 5,
    },
  );

  // 3. Idle: the two workers above after their last task, a bare Node polling with undici once a
  // second (the floor), and a fresh worker of ours polling once a second for the CPU figure.
  console.log(`idle for ${IDLE_SECONDS} s…`);
  const poller = spawn(
    process.execPath,
    [join(ROOT, 'bench', 'peers', 'undici-poller.mjs'), server.url],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  onCleanup(() => stopProcess(poller));
  const onePerSecond = startHiveWorker(exe, server.url, {
    HIVE_WAIT_SEC: '0',
    HIVE_NO_TASK_SLEEP: '1',
  });
  await delay(2000);
  const cpuStart = treeMemory(onePerSecond.pid ?? 0).cpuSec;
  const floorCpuStart = treeMemory(poller.pid ?? 0).cpuSec;
  await delay((IDLE_SECONDS - 2) * 1000);
  const hiveIdle = treeMemory(hive.pid ?? 0);
  const bullIdle = treeMemory(bullWorker.pid ?? 0);
  const floorIdle = treeMemory(poller.pid ?? 0);
  const pollingIdle = treeMemory(onePerSecond.pid ?? 0);
  const cpuPercent = ((pollingIdle.cpuSec - cpuStart) / (IDLE_SECONDS - 2)) * 100;
  const floorCpuPercent = ((floorIdle.cpuSec - floorCpuStart) / (IDLE_SECONDS - 2)) * 100;
  await Promise.all([hive, bullWorker, poller, onePerSecond].map((child) => stopProcess(child)));
  figures.push(
    {
      name: `idle private memory of the worker's process tree after ${IDLE_SECONDS} s`,
      value: idleMemory(hiveIdle),
      floor: 'bare Node polling with undici once a second',
      floorValue: idleMemory(floorIdle),
      ratio: hiveIdle.privateMb / floorIdle.privateMb,
      target: '≤ 1.1× the floor',
      met: hiveIdle.privateMb <= 1.1 * floorIdle.privateMb,
    },
    {
      name: `idle memory after ${IDLE_SECONDS} s, against BullMQ's worker (private)`,
      value: idleMemory(hiveIdle),
      floor: 'BullMQ sandboxed worker',
      floorValue: idleMemory(bullIdle),
      ratio: hiveIdle.privateMb / bullIdle.privateMb,
      target: '(for the record)',
    },
    {
      name: `idle CPU over ${IDLE_SECONDS - 2} s, one poll a second (WAIT_SEC 0, NO_TASK_SLEEP 1)`,
      value: `${cpuPercent.toFixed(3)} % of a core (${idleMemory(pollingIdle)})`,
      floor: 'bare Node polling with undici once a second',
      floorValue: `${floorCpuPercent.toFixed(3)} % of a core`,
      ...(floorCpuPercent > 0 ? { ratio: cpuPercent / floorCpuPercent } : {}),
      target: '≤ 0.2 % of a core',
      met: cpuPercent <= 0.2,
    },
  );
  printFigures(figures);
  console.log(`load average (1 min): ${loadAtStart} at the start, ${loadAverage()} at the end`);
  const file = join(ROOT, 'bench', 'peers.results.json');
  if (!isFullRun) {
    console.log('(a run at other than the default sizes: bench/peers.results.json not written)');
    return;
  }
  const peers = `BullMQ ${bullmqVersion()} sandboxed, concurrency 1, redis-server ${redis.version}`;
  const note =
    'taken on a shared 2-core development machine (other engineers running tests): noisy; read each figure against its floor from the same run';
  writeFileSync(
    file,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), machine: machine(), loadAverage1m: { atStart: loadAtStart, atEnd: loadAverage() }, peers, note, figures }, null, 2)}\n`,
  );
  console.log(`written: ${file}`);
}

await runBench(main, 15 * 60_000);
