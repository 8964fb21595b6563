/**
 * `npm run bench:memory`: the soak. The built Linux executable runs N echo tasks back to back
 * against the reference server, three times: small payloads only, then every 100th task carrying
 * an 8 MiB payload (so an 8 MiB result: exactly MAX_RESULT_BYTES of JSON, the largest the worker
 * reports), then every 100th a 4 MiB one. For the worker's own process (not its
 * task processes) it prints private memory and RSS when idle before the first task, after the first
 * 10 % of results, at the peak, at the end and after a spell idle. A run at the default sizes
 * writes bench/memory.results.json.
 * Flags: --exe FILE (skip the build), --tasks N, --idle-seconds N, --big-every N, --only small|8|4
 * (one soak; never writes the results file).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ROOT } from '../scripts/build.ts';
import { type AdminClient, createAdminClient } from '../scripts/server/admin-client.ts';
import { startServer } from '../scripts/server/start.ts';
import type { NewTask } from '../scripts/server/store.ts';
import { tempDir } from '../test/helpers/worker.ts';
import {
  benchExecutable,
  benchFlags,
  dropFromPageCache,
  type Figure,
  loadAverage,
  type Memory,
  machine,
  mb,
  onCleanup,
  printFigures,
  processMemory,
  runBench,
  serverMetric,
  startHiveWorker,
  stopProcess,
} from './measure.ts';

const {
  sizes,
  strings: flags,
  isFullRun,
} = benchFlags(
  {
    tasks: { default: 2000, min: 10 },
    'idle-seconds': { default: 30, min: 1 },
    'big-every': { default: 100, min: 1 },
  },
  { exe: undefined, only: undefined },
);
const TASKS = sizes.tasks;
const IDLE_SECONDS = sizes['idle-seconds'];
const BIG_EVERY = sizes['big-every'];
const MIB = 1024 * 1024;
/** How often the worker's memory is read while tasks run: a peak shorter than this can be missed. */
const SAMPLE_MS = 100;

interface Soak {
  name: string;
  /** Bytes of JSON of the big payloads (and so of their results); 0 = small tasks only. */
  bigBytes: number;
}
const SOAKS: Soak[] = [
  { name: 'small tasks only', bigBytes: 0 },
  // 8 MiB before 4 MiB: it carries two of the three targets.
  { name: `every ${BIG_EVERY}th task an 8 MiB payload and result`, bigBytes: 8 * MIB },
  { name: `every ${BIG_EVERY}th task a 4 MiB payload and result`, bigBytes: 4 * MIB },
];

interface SoakMemory {
  idle: Memory;
  afterTenPercent: Memory;
  /** The largest private memory and the largest RSS sampled (not necessarily at the same time). */
  peak: { privateMb: number; rssMb: number; peakRssMb: number };
  end: Memory;
  afterIdle: Memory;
  seconds: number;
}

/** A payload whose JSON is exactly `bytes` long: a string of `bytes - 2` characters and its quotes. */
const payloadOf = (i: number, soak: Soak): unknown =>
  soak.bigBytes > 0 && (i + 1) % BIG_EVERY === 0 ? 'x'.repeat(soak.bigBytes - 2) : i;

/**
 * Enqueues a task; when the connection drops (as one did under load), tries again unless the
 * task got in anyway, so no task is queued twice or lost.
 */
async function enqueueOnce(admin: AdminClient, task: NewTask): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.enqueue(task);
      return;
    } catch (error) {
      if (attempt === 3) throw error;
      await delay(200);
      if (
        await admin.task(task.id ?? '').then(
          () => true,
          () => false,
        )
      )
        return;
    }
  }
}

async function runSoak(exe: string, soak: Soak): Promise<SoakMemory> {
  const server = await startServer({ port: 0, dataDir: tempDir('hive-bench-server-') });
  onCleanup(() => server.close());
  const admin = createAdminClient(server.url);
  const succeeded = () => serverMetric(server.url, 'hive_server_results_total{status="succeeded"}');
  const stored = () => serverMetric(server.url, 'hive_server_results_total');
  // As after a reboot: a binary just built sits in the page cache in blocks mapped whole, which
  // inflates RSS (not private memory) by ≈ 35 MB (see dropFromPageCache).
  dropFromPageCache(exe);
  const worker = startHiveWorker(exe, server.url);
  const pid = worker.pid ?? 0;
  await delay(IDLE_SECONDS * 1000);
  const idle = processMemory(pid);
  console.log(`  idle: ${mb(idle.privateMb)} private, ${mb(idle.rssMb)} RSS`);

  const started = performance.now();
  const peak = { privateMb: idle.privateMb, rssMb: idle.rssMb, peakRssMb: 0 };
  let afterTenPercent: Memory | undefined;
  let enqueued = 0;
  let shown = 0;
  let enqueueFailure: unknown;
  const enqueueing = (async () => {
    for (; enqueued < TASKS; enqueued++)
      await enqueueOnce(admin, {
        id: `t${enqueued}`,
        type: 'echo',
        payload: payloadOf(enqueued, soak),
      });
  })().catch((error: unknown) => {
    enqueueFailure = error;
  });
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    await delay(SAMPLE_MS);
    const now = processMemory(pid);
    peak.privateMb = Math.max(peak.privateMb, now.privateMb);
    peak.rssMb = Math.max(peak.rssMb, now.rssMb);
    const done = await stored();
    if (afterTenPercent === undefined && done >= TASKS / 10) afterTenPercent = now;
    if (Math.floor((done * 10) / TASKS) > Math.floor((shown * 10) / TASKS))
      console.log(`  ${done} of ${TASKS} results, ${mb(now.privateMb)} private`);
    shown = done;
    if (done >= TASKS) break;
    if (worker.exitCode !== null) throw new Error(`the worker exited (${worker.exitCode})`);
    if (enqueueFailure !== undefined) throw enqueueFailure;
    if (Date.now() > deadline) throw new Error(`${done} of ${TASKS} results after 30 minutes`);
  }
  await enqueueing;
  const seconds = (performance.now() - started) / 1000;
  const end = processMemory(pid);
  peak.peakRssMb = end.peakRssMb;
  const ok = await succeeded();
  if (ok !== TASKS) {
    // A soak whose results failed (a HIVE_* setting in the environment, say MAX_RESULT_BYTES) did
    // not carry the results it is about: no figure from it.
    throw new Error(
      `only ${ok} of ${TASKS} tasks of "${soak.name}" succeeded (the others' results say why: the server's admin/results): the soak is not valid`,
    );
  }
  console.log(`  ${TASKS} tasks in ${seconds.toFixed(1)} s; idle ${IDLE_SECONDS} s…`);
  await delay(IDLE_SECONDS * 1000);
  const afterIdle = processMemory(pid);
  await stopProcess(worker);
  await server.close();
  return { idle, afterTenPercent: afterTenPercent ?? end, peak, end, afterIdle, seconds };
}

const both = (m: { privateMb: number; rssMb: number }) =>
  `${mb(m.privateMb)} private, ${mb(m.rssMb)} RSS`;

/** The issue's targets, each against the same run's idle figure. */
function judge(soak: Soak, m: SoakMemory): Figure[] {
  const idle = m.idle.privateMb;
  const figures: Figure[] = [];
  if (soak.bigBytes === 0) {
    figures.push({
      name: `peak private memory during ${TASKS} small tasks`,
      value: mb(m.peak.privateMb),
      floor: 'idle private memory',
      floorValue: mb(idle),
      ratio: m.peak.privateMb / idle,
      target: '≤ 1.5× idle',
      met: m.peak.privateMb <= 1.5 * idle,
    });
  } else {
    const size = soak.bigBytes / MIB;
    figures.push({
      name: `peak private memory, ${size} MiB payloads and results`,
      value: mb(m.peak.privateMb),
      floor: 'idle private memory',
      floorValue: mb(idle),
      ratio: m.peak.privateMb / idle,
      ...(size === 8
        ? { target: '≤ idle + 3 × 8 MiB', met: m.peak.privateMb <= idle + 3 * size }
        : { target: '(for the record)' }),
    });
  }
  figures.push({
    name: `private memory ${IDLE_SECONDS} s after the last result, ${soak.bigBytes === 0 ? 'small tasks' : `${soak.bigBytes / MIB} MiB results`}`,
    value: mb(m.afterIdle.privateMb),
    floor: 'idle private memory',
    floorValue: mb(idle),
    ratio: m.afterIdle.privateMb / idle,
    ...(soak.bigBytes === 0
      ? { target: '(for the record)' }
      : { target: '≤ 1.1× idle + 4 MB', met: m.afterIdle.privateMb <= 1.1 * idle + 4 }),
  });
  return figures;
}

async function main(): Promise<void> {
  const exe = await benchExecutable(flags.exe);
  const loadAtStart = loadAverage();
  const runs: { soak: string; memory: SoakMemory }[] = [];
  const figures: Figure[] = [];
  const only = { small: 0, '8': 8 * MIB, '4': 4 * MIB }[flags.only ?? ''];
  for (const soak of SOAKS) {
    if (only !== undefined && soak.bigBytes !== only) continue;
    console.log(`${soak.name}: ${TASKS} echo tasks, the worker idle ${IDLE_SECONDS} s first…`);
    const memory = await runSoak(exe, soak);
    runs.push({ soak: soak.name, memory });
    figures.push(...judge(soak, memory));
    // Written after each soak, so a run that dies later (or overruns) keeps what it measured.
    if (isFullRun && only === undefined)
      writeResults(loadAtStart, runs, figures, runs.length === SOAKS.length);
  }
  console.log(`\nthe worker's own process (not its task processes), ${TASKS} tasks:`);
  for (const { soak, memory } of runs) {
    console.log(`  ${soak} (${memory.seconds.toFixed(1)} s)`);
    for (const [when, m] of [
      ['idle, before the first task', memory.idle],
      ['after the first 10 %', memory.afterTenPercent],
      [`peak (sampled every ${SAMPLE_MS} ms)`, memory.peak],
      ['at the end', memory.end],
      [`after ${IDLE_SECONDS} s idle`, memory.afterIdle],
    ] as const)
      console.log(`    ${when.padEnd(32)} ${both(m)}`);
    console.log(`    ${'peak RSS (VmHWM)'.padEnd(32)} ${mb(memory.peak.peakRssMb)}`);
  }
  console.log('');
  printFigures(figures);
  console.log(`load average (1 min): ${loadAtStart} at the start, ${loadAverage()} at the end`);
  console.log(
    isFullRun && only === undefined
      ? `written: ${RESULTS_FILE}`
      : '(a run at other than the default sizes: bench/memory.results.json not written)',
  );
}

const RESULTS_FILE = join(ROOT, 'bench', 'memory.results.json');

function writeResults(
  loadAtStart: number,
  runs: { soak: string; memory: SoakMemory }[],
  figures: Figure[],
  complete: boolean,
): void {
  const note =
    'taken on a shared 2-core development machine (other engineers running tests): noisy; each figure is read against the idle figure of the same soak';
  const loadAverage1m = { atStart: loadAtStart, atEnd: loadAverage() };
  const results = { measuredAt: new Date().toISOString(), machine: machine(), loadAverage1m };
  writeFileSync(
    RESULTS_FILE,
    `${JSON.stringify({ ...results, note, tasks: TASKS, complete, runs, figures }, null, 2)}\n`,
  );
}

// Each soak has its own 30-minute deadline (runSoak); this bounds the whole run beyond them.
await runBench(main, (SOAKS.length * 30 + 10) * 60_000);
