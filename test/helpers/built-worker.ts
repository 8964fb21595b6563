/**
 * The single executable for tests: built from test/fixtures/entry.ts (the real worker plus the
 * failure-mode tasks) with the real build (scripts/build.ts), once per content of its inputs.
 * The result is kept in .cache/test-worker/<hash>/ and shared by every test file and every later
 * run until a source file changes; a lock folder keeps two test processes from building at once.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type BuildOptions, buildWorker, ROOT } from '../../scripts/build.ts';
import { FIXTURE_ENTRY } from './worker.ts';

/** Everything a build reads: a change to any of these makes a new executable. */
const INPUTS = [
  'src',
  'tasks',
  'test/fixtures',
  'scripts/build.ts',
  'scripts/build',
  'build.config.json',
  'package-lock.json',
];
const CACHE = join(ROOT, '.cache', 'test-worker');
const LOCK = join(CACHE, '.lock');
const STALE_LOCK_MS = 10 * 60_000;

function filesUnder(path: string): string[] {
  const full = join(ROOT, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [full];
  return readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function inputsHash(extra: string): string {
  const hash = createHash('sha256').update(extra);
  for (const file of INPUTS.flatMap(filesUnder).sort()) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(CACHE, { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      else await delay(250);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

const pending = new Map<string, Promise<string>>();

/**
 * Path of a built executable for this platform (linux-x64 here) from the fixture entry, building
 * it when the inputs changed. `options` may add a version, a platform, a Node version, the real
 * entry (`release`: src/main.ts, the tasks users get, nothing added) and a release key to pin.
 */
export function builtWorker(
  options: Pick<BuildOptions, 'version' | 'nodeVersion'> & {
    platform?: 'linux-x64' | 'win32-x64';
    release?: boolean;
    releasePublicKey?: string;
  } = {},
): Promise<string> {
  const platform = options.platform ?? 'linux-x64';
  const key = inputsHash(
    JSON.stringify([
      platform,
      options.version,
      options.nodeVersion,
      options.release === true,
      options.releasePublicKey,
    ]),
  );
  const known = pending.get(key);
  if (known !== undefined) return known;
  const outDir = join(CACHE, key);
  const file = join(outDir, platform, platform === 'win32-x64' ? 'worker.exe' : 'worker');
  const built = withLock(async () => {
    if (existsSync(file)) return file;
    const started = performance.now();
    // The build reads the key from the environment (as a release pipeline sets it); builds in this
    // process are one at a time (the lock), so setting it around one build is safe.
    const keyBefore = process.env.HIVE_RELEASE_PUBLIC_KEY;
    if (options.releasePublicKey !== undefined) {
      process.env.HIVE_RELEASE_PUBLIC_KEY = options.releasePublicKey;
    }
    await buildWorker({
      entry: options.release === true ? undefined : FIXTURE_ENTRY,
      outDir,
      platforms: [platform],
      version: options.version,
      nodeVersion: options.nodeVersion,
      log: () => {},
    }).finally(() => {
      if (keyBefore === undefined) delete process.env.HIVE_RELEASE_PUBLIC_KEY;
      else process.env.HIVE_RELEASE_PUBLIC_KEY = keyBefore;
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`built the test executable ${relative(ROOT, file)} in ${seconds} s`);
    pruneOldBuilds(key);
    return file;
  });
  pending.set(key, built);
  return built;
}

/** Keeps the cache to the newest builds (each is ≈ 110–150 MB; the Wine suite alone uses four). */
function pruneOldBuilds(keep: string): void {
  const builds = readdirSync(CACHE)
    .filter((name) => name !== '.lock' && name !== keep)
    .map((name) => ({ name, mtimeMs: statSync(join(CACHE, name)).mtimeMs }))
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of builds.slice(6))
    rmSync(join(CACHE, old.name), { recursive: true, force: true });
}
