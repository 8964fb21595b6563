/**
 * `npm run bench:update`: what an update costs a worker, patch (protocol 1.1-f) against zip, on
 * loopback. For each change — a version bump, a one-task change, a dependency bump — the real
 * 1.0.0 executable runs idle against the reference server, the release appears in its releases
 * folder, and the bench reads from the worker's log the time from its version answer to the release
 * staged, the bytes it fetched, and, sampled from /proc every 20 ms, its peak memory while it
 * prepared the release. Patches are made as the release tool makes them (zstd -19). The dependency
 * bump builds 1.0.0 with the previous undici (fetched with `npm pack` from the npm registry). A Node
 * version change needs a second pinned Node binary: only Node 26.10.0 is pinned in
 * build.config.json, so that case is not measured (docs/updating.md says what it would cost).
 * Each path runs `--runs` times (default 3): the median time, the largest peak. Writes
 * bench/update.results.json. Flags: --level N (zstd level), --runs N; not the defaults: no file.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { buildWorker, ROOT } from '../scripts/build.ts';
import { startServer } from '../scripts/server/start.ts';
import { isAlive, readLock } from '../src/platform/lock.ts';
import { releaseKit } from '../test/helpers/releases.ts';
import { tempDir } from '../test/helpers/worker.ts';
import {
  benchFlags,
  dropFromPageCache,
  loadAverage,
  machine,
  onCleanup,
  processMemory,
  runBench,
  startHiveWorker,
} from './measure.ts';

const { sizes, isFullRun } = benchFlags(
  { level: { default: 19, min: 1 }, runs: { default: 3, min: 1 } },
  {},
);
const kit = releaseKit('hive-bench-update-');
const PREVIOUS_UNDICI = '8.13.0';

/** A copy of src/ and tasks/ to build a changed worker from (node_modules linked, one replaceable). */
function sourceCopy(change: (dir: string) => void): string {
  const dir = join(kit.work, `src-${Math.random().toString(36).slice(2)}`);
  for (const part of ['src', 'tasks', 'package.json', 'build.config.json'])
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  for (const name of readdirSync(join(ROOT, 'node_modules')))
    symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name));
  change(dir);
  return join(dir, 'src', 'main.ts');
}

async function build(version: string, entry?: string): Promise<string> {
  process.env.HIVE_RELEASE_PUBLIC_KEY = kit.publicKey;
  const [built] = await buildWorker({
    version,
    platforms: ['linux-x64'],
    outDir: join(kit.work, `build-${version}-${Math.random().toString(36).slice(2)}`),
    log: () => {},
    ...(entry === undefined ? {} : { entry }),
  });
  if (built === undefined) throw new Error('no build');
  return built.file;
}

interface Run {
  path: 'patch' | 'zip';
  bytesFetched: number;
  answerToStagedMs: number;
  idleRssMb: number;
  peakRssMb: number;
  peakOverIdleMb: number;
}

/** Releases folders prepared beforehand: 1.0.0 and `to`, with and without patches. */
async function prepareReleases(to: string): Promise<{ zip: string; patch: string }> {
  const zip = tempDir('hive-bench-zip-');
  kit.release('1.0.0', zip);
  kit.release(to, zip);
  const patch = tempDir('hive-bench-patch-');
  kit.release('1.0.0', patch);
  console.log(`  making the patches from 1.0.0 to ${to} (zstd -${sizes.level})…`);
  await kit.releaseWithPatches(to, patch, sizes.level);
  return { zip, patch };
}

/** Copies a prepared releases folder into the served one, the `version` answers last. */
function publish(from: string, to: string): void {
  const names = readdirSync(from).sort(
    (a, b) => Number(a.endsWith('.json')) - Number(b.endsWith('.json')),
  );
  for (const name of names) {
    copyFileSync(join(from, name), join(to, `.${name}`));
    renameSync(join(to, `.${name}`), join(to, name));
  }
}

/** The 1.0.0 worker idles, then finds `to` in the folder and stages it. */
async function measure(from: string, to: { version: string }, prepared: string): Promise<Run> {
  const releases = tempDir('hive-bench-releases-');
  const server = await startServer({
    port: 0,
    dataDir: tempDir('hive-bench-server-'),
    releasesDir: releases,
  });
  onCleanup(() => server.close());
  const install = join(tempDir('hive-bench-install-'), 'worker');
  copyFileSync(from, install);
  execFileSync('chmod', ['755', install]);
  dropFromPageCache(install);
  const dataDir = tempDir('hive-bench-data-');
  const worker = startHiveWorker(install, server.url, {
    HIVE_DATA_DIR: dataDir,
    HIVE_LOG_LEVEL: 'info',
    HIVE_UPDATE_CHECK_INTERVAL: '1',
  });
  onCleanup(() => {
    const holder = readLock(dataDir);
    if (holder !== undefined && isAlive(holder.pid)) process.kill(holder.pid, 'SIGKILL');
  });
  await delay(8000);
  const pid = worker.pid ?? 0;
  const idle = processMemory(pid).rssMb;
  publish(prepared, releases);
  let peak = idle;
  const log = join(dataDir, 'logs', 'worker.log');
  const lines = () =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { time: number; msg: string });
  const deadline = Date.now() + 120_000;
  let staged: { time: number } | undefined;
  while (staged === undefined) {
    if (Date.now() > deadline) throw new Error('not staged within 2 minutes');
    peak = Math.max(peak, processMemory(pid).rssMb);
    staged = lines().find((line) =>
      /(rebuilt from the patch|downloaded) and verified/.test(line.msg),
    );
    await delay(20);
  }
  const all = lines();
  const start = all.find((line) => /^downloading (the patch|release) /.test(line.msg));
  const fellBack = all.some((line) => /was not used/.test(line.msg));
  const usedPatch = all.some((line) => /rebuilt from the patch/.test(line.msg));
  if (prepared.includes('-patch-') && (!usedPatch || fellBack))
    throw new Error('the patch was not used');
  const answer = JSON.parse(
    readFileSync(join(releases, `worker-${to.version}-linux-x64.json`), 'utf8'),
  );
  const bytesFetched = usedPatch ? Number(answer.patches[0].size) : Number(answer.size);
  // It hands off to the updater, which starts the new version: stop that one once it holds the
  // data folder (or after 20 s).
  for (let waited = 0; waited < 20_000; waited += 250) {
    const holder = readLock(dataDir);
    if (holder !== undefined && holder.pid !== pid && isAlive(holder.pid)) {
      process.kill(holder.pid, 'SIGKILL');
      break;
    }
    await delay(250);
  }
  if (worker.exitCode === null) worker.kill('SIGKILL');
  await server.close();
  return {
    path: usedPatch ? 'patch' : 'zip',
    bytesFetched,
    answerToStagedMs: (staged.time ?? 0) - (start?.time ?? 0),
    idleRssMb: round(idle),
    peakRssMb: round(peak),
    peakOverIdleMb: round(peak - idle),
  };
}

const round = (value: number) => Math.round(value * 10) / 10;
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The median time and idle memory of the runs, and the largest peak. */
function summary(runs: Run[]) {
  return {
    path: runs[0]?.path,
    bytesFetched: runs[0]?.bytesFetched ?? 0,
    answerToStagedMs: median(runs.map((run) => run.answerToStagedMs)),
    runsMs: runs.map((run) => run.answerToStagedMs),
    idleRssMb: median(runs.map((run) => run.idleRssMb)),
    peakOverIdleMb: Math.max(...runs.map((run) => run.peakOverIdleMb)),
  };
}

async function main(): Promise<void> {
  console.log('building 1.0.0 and the changed versions…');
  const base = await build('1.0.0');
  const oneTask = sourceCopy((dir) => {
    const file = join(dir, 'tasks', 'echo.ts');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        'run: (payload) => payload,',
        'run: (payload) => (payload === undefined ? null : payload),',
      ),
    );
  });
  const oldUndici = sourceCopy((dir) => {
    const modules = join(dir, 'node_modules');
    rmSync(join(modules, 'undici'));
    execFileSync('npm', ['pack', `undici@${PREVIOUS_UNDICI}`, '--pack-destination', dir], {
      stdio: 'ignore',
    });
    mkdirSync(join(modules, 'undici'));
    execFileSync('tar', [
      'xzf',
      join(dir, `undici-${PREVIOUS_UNDICI}.tgz`),
      '-C',
      join(modules, 'undici'),
      '--strip-components=1',
    ]);
  });
  const scenarios = [
    { name: 'version bump', from: base, to: { version: '1.0.1', exe: await build('1.0.1') } },
    {
      name: 'one-task change',
      from: base,
      to: { version: '1.0.2', exe: await build('1.0.2', oneTask) },
    },
    {
      name: `dependency bump (undici ${PREVIOUS_UNDICI} → 8.13.1)`,
      from: await build('1.0.0', oldUndici),
      to: { version: '1.0.3', exe: await build('1.0.3') },
    },
  ];
  const results = [];
  for (const scenario of scenarios) {
    kit.adopt('1.0.0', scenario.from);
    kit.adopt(scenario.to.version, scenario.to.exe);
    const prepared = await prepareReleases(scenario.to.version);
    const zipRuns: Run[] = [];
    const patchRuns: Run[] = [];
    for (let run = 0; run < sizes.runs; run++) {
      zipRuns.push(await measure(scenario.from, scenario.to, prepared.zip));
      patchRuns.push(await measure(scenario.from, scenario.to, prepared.patch));
    }
    const zip = summary(zipRuns);
    const patch = summary(patchRuns);
    const exeMb = round(readFileSync(scenario.to.exe).length / 1048576);
    results.push({
      change: scenario.name,
      executableMb: exeMb,
      zip,
      patch,
      patchShareOfZip: Number((patch.bytesFetched / zip.bytesFetched).toFixed(5)),
      patchTimeShareOfZip: Number((patch.answerToStagedMs / zip.answerToStagedMs).toFixed(2)),
      peakTargetMb: round(1.2 * exeMb),
      peakTargetMet: patch.peakOverIdleMb <= 1.2 * exeMb,
    });
    console.log(JSON.stringify(results.at(-1)));
  }
  if (isFullRun) {
    const file = join(ROOT, 'bench', 'update.results.json');
    const out = {
      machine: machine(),
      loadAverage: loadAverage(),
      zstdLevel: sizes.level,
      at: new Date().toISOString(),
      results,
    };
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`written: ${file}`);
  }
}

await runBench(main, 30 * 60_000);
