/**
 * Real self-updates for tests (Linux): worker executables built as given versions with the real
 * build, pinning a throwaway release key made here; signed release zips of them (the real
 * packaging, the real updater.sh); install folders holding a copy of one of them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildWorker, ROOT } from '../../scripts/build.ts';
import { addPatches, packRelease } from '../../scripts/release/package.ts';
import { tempDir } from './worker.ts';

const UPDATER = join(ROOT, 'updater', 'updater.sh');

export interface ReleaseKit {
  /** The temp folder that builds and installs go in. */
  work: string;
  /** Builds `version` (from `entry`, a path under the repository, default the real worker). */
  build(version: string, entry?: string): Promise<string>;
  /** Writes the signed zip and announcement of a built version into `releasesDir`. */
  release(version: string, releasesDir: string): void;
  /**
   * The same, plus patches from the earlier releases in `releasesDir` (zstd level 3: fast); `log`
   * hears the release tool's line per patch (its size, or why it was not written).
   */
  releaseWithPatches(
    version: string,
    releasesDir: string,
    level?: number,
    log?: (line: string) => void,
  ): Promise<void>;
  /** Takes an executable built elsewhere (pinning this kit's key) as `version`. */
  adopt(version: string, executable: string): void;
  /** The throwaway release key (the builds pin its public half, `publicKey`). */
  privateKey: KeyObject;
  publicKey: string;
  /** `<work>/<name>/worker`, a copy of the built `version` (default 1.0.0). */
  install(name: string, version?: string): string;
}

/**
 * A fresh key pair; the builds made through the kit pin its public key (as HIVE_RELEASE_PUBLIC_KEY,
 * which the build reads), as a release pipeline's test build would.
 */
export function releaseKit(prefix: string): ReleaseKit {
  const work = tempDir(prefix);
  const keys = generateKeyPairSync('ed25519');
  const pub = keys.publicKey.export({ format: 'jwk' }).x ?? '';
  const builds = new Map<string, string>();
  const pack = (version: string, releasesDir: string) => {
    const executable = builds.get(version);
    assert.ok(executable !== undefined, `${version} was not built`);
    return packRelease({
      version,
      platform: 'linux-x64',
      executable,
      updater: UPDATER,
      outDir: releasesDir,
      privateKey: keys.privateKey,
      pinnedPublicKey: pub,
    });
  };
  return {
    work,
    privateKey: keys.privateKey,
    publicKey: pub,
    async build(version, entry) {
      process.env.HIVE_RELEASE_PUBLIC_KEY = pub;
      const [built] = await buildWorker({
        version,
        platforms: ['linux-x64'],
        outDir: join(work, `build-${version}`),
        log: () => {},
        ...(entry === undefined ? {} : { entry: join(ROOT, entry) }),
      });
      assert.ok(built !== undefined);
      builds.set(version, built.file);
      return built.file;
    },
    release(version, releasesDir) {
      pack(version, releasesDir);
    },
    async releaseWithPatches(version, releasesDir, level = 3, log) {
      const packed = pack(version, releasesDir);
      const input = { version, platform: 'linux-x64', outDir: releasesDir };
      await addPatches(packed, input, { fromDir: releasesDir, count: 3, level, log });
    },
    adopt(version, executable) {
      builds.set(version, executable);
    },
    install(name, version = '1.0.0') {
      const built = builds.get(version);
      assert.ok(built !== undefined, `${version} was not built`);
      const dir = join(work, name);
      mkdirSync(dir, { recursive: true });
      const exe = join(dir, 'worker');
      copyFileSync(built, exe);
      execFileSync('chmod', ['755', exe]);
      return exe;
    },
  };
}

export const versionOf = (exe: string) =>
  execFileSync(exe, ['--version'], { encoding: 'utf8' }).trim();

export const readText = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
