/**
 * worker.exe under Wine 10, in the Debian 13 chroot that `scripts/ensure-tools.sh --wine` makes
 * (npm run test:windows runs it first). Files the exe uses live inside the chroot — each test
 * folder is made under <chroot>/tmp, seen by Wine as Z:\tmp\… — so nothing is ever mounted into
 * the chroot by a test. Each test file gets its own Wine prefix (registry, C: drive), stopped with
 * `wineserver -k` when the file ends.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { readBuildConfig } from '../../scripts/build/config.ts';
import { nodeBinary } from '../../scripts/build/node-binary.ts';
import { ROOT } from '../../scripts/build.ts';
import { FAST_SETTINGS } from './worker.ts';

/** chroot(8) by its path: the programs' PATH (inside the chroot) is not this process's. */
const CHROOT = '/usr/sbin/chroot';

export const WINE_ROOT = process.env.HIVE_WINE_ROOT ?? '/var/cache/hive-worker/wine10-trixie';

/**
 * A fixed throwaway Ed25519 release key for the Wine builds (so they can be cached between runs):
 * test builds pin its public half, the self-update test signs with the private half.
 */
const TEST_SEED = Buffer.alloc(32, 0x48);
export const TEST_RELEASE_KEY = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), TEST_SEED]),
  format: 'der',
  type: 'pkcs8',
});
export const TEST_RELEASE_PUBLIC_KEY =
  createPublicKey(TEST_RELEASE_KEY).export({ format: 'jwk' }).x ?? '';

/** Stops the file with a clear message when the chroot is missing. */
export function assertWineReady(): void {
  if (!existsSync(join(WINE_ROOT, '.hive-wine-ready'))) {
    throw new Error(
      `Wine 10 is not set up in ${WINE_ROOT}: run bash scripts/ensure-tools.sh --wine (npm run test:windows does)`,
    );
  }
}

/** A folder inside the chroot: its path here, and as Wine's programs see it. */
export interface WineDir {
  host: string;
  /** The same folder inside the chroot (/tmp/…). */
  inside: string;
  /** And as Windows programs see it (Z:\tmp\…). */
  windows: string;
}

const made: string[] = [];

/** A fresh folder under <chroot>/tmp, removed when this test process exits (HIVE_KEEP_TEMP=1 keeps it). */
export function wineTempDir(prefix: string): WineDir {
  const tmp = join(WINE_ROOT, 'tmp');
  mkdirSync(tmp, { recursive: true, mode: 0o1777 });
  const host = mkdtempSync(join(tmp, prefix));
  if (made.length === 0 && process.env.HIVE_KEEP_TEMP !== '1') {
    process.once('exit', () => {
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    });
  }
  made.push(host);
  return wineDir(host);
}

/**
 * A data folder for worker.exe: `data` in a fresh private folder (0700, ours), not made yet — the
 * worker makes it. Not a folder directly in Z:\tmp: Wine gives Everyone the right to delete what
 * is in /tmp (1777: the sticky bit is not in the DACL it shows), and the worker refuses a data
 * folder whose holder lets others swap it (docs/reliability.md, "The data folder must be ours").
 */
export function wineDataDir(prefix = 'hive-wine-data-'): WineDir {
  return wineDir(join(wineTempDir(prefix).host, 'data'));
}

/**
 * node.exe of the Windows build (the base binary worker.exe is made from, fetched and checked
 * against its pinned sha256 by the build's own code): to run a script under Wine with the same
 * Node, e.g. one that writes a DACL.
 */
export function windowsNode(): string {
  const configPath = join(ROOT, 'build.config.json');
  const config = readBuildConfig(configPath);
  const target = config.targets.find((one) => one.platform === 'win32-x64');
  assert.ok(target !== undefined, 'build.config.json has a win32-x64 target');
  const cacheDir = join(ROOT, '.cache', 'node');
  return nodeBinary(config, configPath, 'win32-x64', target.node, cacheDir).path;
}

/** The WineDir of a path inside the chroot. */
export function wineDir(host: string): WineDir {
  const inside = `/${relative(WINE_ROOT, host)}`;
  assert.ok(!inside.startsWith('/..'), `${host} is not inside ${WINE_ROOT}`);
  return { host, inside, windows: `Z:${inside.replaceAll('/', '\\')}` };
}

export interface WineRun {
  child: ChildProcess;
  /** What the program wrote (stdout and stderr, through a file: see `run`). */
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Kills the runs still going and waits for them (after each test: a worker a failed test left
 * running would claim the next test's tasks); `runs` is emptied.
 */
export async function killLeftRuns(runs: WineRun[]): Promise<void> {
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL');
      await run.exited;
    }
  }
}

export interface RunOptions {
  env?: Record<string, string>;
  /** 'file' (default): stdout and stderr to a file; 'pipe': both are pipes (the Wine EBADF case). */
  stdio?: 'file' | 'pipe';
}

/** A private Wine prefix inside the chroot, and the programs run in it. */
export class WinePrefix {
  readonly dir: WineDir;
  readonly #runtimeDir: WineDir;

  constructor() {
    assertWineReady();
    const home = wineTempDir('hive-wine-');
    this.dir = wineDir(join(home.host, 'prefix'));
    // Wine prints "XDG_RUNTIME_DIR is invalid" into every program's output without one.
    this.#runtimeDir = wineDir(join(home.host, 'run'));
    mkdirSync(this.#runtimeDir.host, { mode: 0o700 });
  }

  /** The environment of every program in this prefix: nothing of this process's leaks in. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      WINEDEBUG: '-all',
      WINEPREFIX: this.dir.inside,
      XDG_RUNTIME_DIR: this.#runtimeDir.inside,
      ...extra,
    };
  }

  /** Makes the prefix (≈ 10 s the first time) and waits for it to settle. */
  init(): void {
    const boot = this.#sync(['wineboot', '--init']);
    assert.equal(boot.status, 0, `wineboot: ${boot.stderr}`);
    this.#sync(['wineserver', '--wait']);
  }

  /** `C:\…` of this prefix, as a WineDir (created). */
  driveC(path: string): WineDir {
    const host = join(this.dir.host, 'drive_c', ...path.split('\\').filter((part) => part !== ''));
    mkdirSync(host, { recursive: true });
    return { ...wineDir(host), windows: `C:\\${path.replace(/^\\+/, '')}` };
  }

  /** Copies a file into the chroot folder `to` and returns its WineDir. */
  place(file: string, to: WineDir, name: string): WineDir {
    const target = join(to.host, name);
    copyFileSync(file, target);
    return wineDir(target);
  }

  /** `wine <program> <args>`, asynchronously (the reference server runs in this process). */
  run(program: string, args: readonly string[], options: RunOptions = {}): WineRun {
    const env = this.env({ ...FAST_SETTINGS, ...options.env });
    let output: () => string;
    let stdio: ['ignore', number | 'pipe', number | 'pipe'];
    if (options.stdio === 'pipe') {
      let text = '';
      output = () => text;
      stdio = ['ignore', 'pipe', 'pipe'];
      const child = this.#spawn(program, args, env, stdio);
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      return { child, output, exited: exitOf(child) };
    }
    // Node for Windows under Wine cannot write to a pipe (EBADF): a file it can.
    const out = join(wineTempDir('hive-wine-out-').host, 'output.txt');
    const fd = openSync(out, 'w');
    stdio = ['ignore', fd, fd];
    const child = this.#spawn(program, args, env, stdio);
    return { child, output: () => readFileSync(out, 'utf8'), exited: exitOf(child) };
  }

  /** `wine reg query <key> /v <name>`: the REG_SZ value, or undefined when there is none. */
  regQuery(key: string, name: string): string | undefined {
    const query = this.#sync(['wine', 'reg', 'query', key, '/v', name]);
    if (query.status !== 0) return undefined;
    return query.stdout.match(new RegExp(`${name}\\s+REG_SZ\\s+(.*\\S)`))?.[1];
  }

  /** Ends every program still running in the prefix. */
  kill(): void {
    this.#sync(['wineserver', '-k']);
  }

  #spawn(
    program: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    stdio: ['ignore', number | 'pipe', number | 'pipe'],
  ): ChildProcess {
    // chroot execs wine, and Wine runs the program in that same process: a signal to the child
    // reaches worker.exe (SIGINT arrives as Ctrl+C).
    return spawn(CHROOT, [WINE_ROOT, 'wine', program, ...args], { env, stdio });
  }

  #sync(command: string[]) {
    return spawnSync(CHROOT, [WINE_ROOT, ...command], {
      env: this.env(),
      encoding: 'utf8',
      timeout: 120_000,
    });
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}
