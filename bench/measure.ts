/**
 * What the benches share: statistics, the figure type and its table, memory and CPU of a process
 * (tree) from /proc, the built executable, stopping processes, and cleaning up on any exit. Used by
 * `npm run bench`, `bench:peers` and `bench:memory`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildWorker, ROOT } from '../scripts/build.ts';
import { tempDir } from '../test/helpers/worker.ts';

export interface Stats {
  median: number;
  min: number;
  max: number;
}

/** One row of a bench's table and results file: a value beside its floor, a ratio, a target. */
export interface Figure {
  name: string;
  value: Stats | number | string;
  floor: string;
  floorValue: Stats | number | string;
  ratio?: number;
  target: string;
  met?: boolean;
}

export const stats = (values: number[]): Stats => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    min: sorted[0] ?? 0,
    max: sorted.at(-1) ?? 0,
  };
};
export const ms = (s: Stats) =>
  `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;

export interface Memory {
  /** Resident memory, MB. */
  rssMb: number;
  /** Private memory, MB: the `Anonymous` pages of smaps_rollup (heap, stacks, JIT code). */
  privateMb: number;
  /** VmRSS split as the kernel counts it in /proc/<pid>/status, MB. */
  anonMb: number;
  fileMb: number;
  /** Peak resident memory over the process's life (VmHWM), MB; summed over a tree. */
  peakRssMb: number;
  /** User + system CPU seconds. */
  cpuSec: number;
}

/**
 * Memory and CPU of one process from /proc (zeros once it has exited). Private memory is read
 * from smaps_rollup: its `Anonymous` field is what the process holds that no other process and
 * no file on disk can give back.
 */
export function processMemory(pid: number): Memory {
  const kb = (text: string, field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return {
      rssMb: kb(status, 'VmRSS') / 1024,
      privateMb: kb(rollup, 'Anonymous') / 1024,
      anonMb: kb(status, 'RssAnon') / 1024,
      fileMb: (kb(status, 'RssFile') + kb(status, 'RssShmem')) / 1024,
      peakRssMb: kb(status, 'VmHWM') / 1024,
      cpuSec: (Number(fields[11]) + Number(fields[12])) / 100,
    };
  } catch {
    return { rssMb: 0, privateMb: 0, anonMb: 0, fileMb: 0, peakRssMb: 0, cpuSec: 0 };
  }
}

/** `pid` and all its descendants (a BullMQ worker's sandbox, our task processes). */
export function processTree(pid: number): number[] {
  const parentOf = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      parentOf.set(ppid, [...(parentOf.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parentOf.get(tree[i] ?? 0) ?? []));
  return tree;
}

/** processMemory summed over `pid` and its descendants; `processes` says how many there were. */
export function treeMemory(pid: number): Memory & { processes: number } {
  const pids = processTree(pid);
  const sum: Memory = { rssMb: 0, privateMb: 0, anonMb: 0, fileMb: 0, peakRssMb: 0, cpuSec: 0 };
  for (const one of pids) {
    const memory = processMemory(one);
    for (const key of Object.keys(sum) as (keyof Memory)[]) sum[key] += memory[key];
  }
  return { ...sum, processes: pids.length };
}

export const mb = (value: number) => `${value.toFixed(1)} MB`;

/**
 * SIGTERM, then the exit (SIGKILL after `graceMs`): a worker still shutting down would hold a
 * long poll the next phase's first task could be handed to.
 */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(force);
}

/**
 * Flushes a file and drops it from the page cache, so that the processes compared start from
 * the same state, as after a reboot. A binary just written in one go (a build) sits in the page
 * cache in large blocks that are mapped whole when touched: measured here, that alone added
 * ≈ 35 MB of resident memory to a SEA doing nothing, and nothing to a `cp` of the same file.
 */
export function dropFromPageCache(file: string): void {
  spawnSync('sync', [file]);
  spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
}

/**
 * The Linux executable the benches measure: built by the real build into .cache/bench, or the
 * file `given` (a `--exe` flag, to skip the minute of building while working on a bench).
 */
export async function benchExecutable(given?: string): Promise<string> {
  if (given !== undefined && given !== '') return given;
  console.log('building the executable…');
  const [built] = await buildWorker({
    platforms: ['linux-x64'],
    outDir: join(ROOT, '.cache', 'bench'),
    log: () => {},
  });
  if (built === undefined) throw new Error('no build');
  return built.file;
}

/** The machine's 1-minute load average: how busy it was around a run (2 = both cores busy). */
export const loadAverage = () => Number(loadavg()[0]?.toFixed(2));

export function machine(): string {
  const cores = spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
  return `${process.platform}-${process.arch}, ${cores} cores, Node ${process.versions.node}`;
}

/** Counts of a metric of the reference server, summed over its labels. */
export async function serverMetric(url: string, name: string): Promise<number> {
  let text = '';
  // A GET, so a dropped connection is simply tried again: the bench's own server, sharing its
  // process, reset one mid-soak on this loaded machine and ended a 40-minute run.
  for (let attempt = 1; ; attempt++) {
    try {
      text = await (await fetch(`${url}metrics`)).text();
      break;
    } catch (error) {
      if (attempt === 3) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

export function printFigures(figures: Figure[]): void {
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

const cleanups: (() => void | Promise<void>)[] = [];

/** Registers what must be undone however the bench ends (processes started, servers). */
export function onCleanup(cleanup: () => void | Promise<void>): void {
  cleanups.push(cleanup);
}

/**
 * Runs a bench bounded in time: on success, failure, Ctrl+C, SIGTERM or the deadline, the
 * registered cleanups run (newest first) before the process ends; temp folders made with
 * tempDir() go on its exit.
 */
export async function runBench(main: () => Promise<void>, limitMs: number): Promise<void> {
  const finish = async (code: number): Promise<never> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error('cleanup failed:', error);
      }
    }
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping what the bench started`);
      void finish(130);
    });
  }
  setTimeout(() => {
    console.error(`the bench ran past its limit of ${limitMs / 1000} s: stopping`);
    void finish(1);
  }, limitMs).unref();
  try {
    await main();
  } catch (error) {
    console.error(error);
    await finish(1);
  }
  await finish(0);
}

/**
 * The executable `exe` as a worker of the server at `serverUrl`, in a fresh data folder, logging
 * warnings only; `env` adds or overrides HIVE_* settings. Stopped on cleanup.
 */
export function startHiveWorker(
  exe: string,
  serverUrl: string,
  env: Record<string, string> = {},
): ChildProcess {
  const child = spawn(exe, [], {
    env: {
      ...process.env,
      HIVE_SERVER_URL: serverUrl,
      HIVE_NO_TASK_SLEEP: '5',
      HIVE_WAIT_SEC: '25',
      HIVE_LOG_LEVEL: 'warn',
      HIVE_DATA_DIR: tempDir('hive-bench-'),
      ...env,
    },
    stdio: 'ignore',
  });
  onCleanup(() => stopProcess(child));
  return child;
}

/**
 * A bench's flags: whole-number sizes (each with its default and least value) and string options
 * (with their defaults). A bad one ends the process with one line saying which and why (exit 2).
 * `isFullRun` says every size is its default: only such a run writes a results file.
 */
export function benchFlags<S extends string, O extends string>(
  sizes: Record<S, { default: number; min: number }>,
  strings: Record<O, string | undefined>,
): { sizes: Record<S, number>; strings: Record<O, string | undefined>; isFullRun: boolean } {
  const options: Record<string, { type: 'string'; default?: string }> = {};
  for (const [name, size] of Object.entries<{ default: number }>(sizes))
    options[name] = { type: 'string', default: String(size.default) };
  for (const [name, value] of Object.entries<string | undefined>(strings))
    options[name] = value === undefined ? { type: 'string' } : { type: 'string', default: value };
  const fail = (message: string): never => {
    console.error(message);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    values = parseArgs({ options }).values;
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  const parsed = {} as Record<S, number>;
  let isFullRun = true;
  for (const [name, size] of Object.entries<{ default: number; min: number }>(sizes)) {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < size.min)
      fail(`--${name} must be a whole number ≥ ${size.min}, got ${JSON.stringify(values[name])}`);
    parsed[name as S] = value;
    isFullRun &&= value === size.default;
  }
  const given = {} as Record<O, string | undefined>;
  for (const name of Object.keys(strings) as O[]) given[name] = values[name] as string | undefined;
  return { sizes: parsed, strings: given, isFullRun };
}
