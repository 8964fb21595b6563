/**
 * `npm run build [-- --version <semver>] [--platform <p>...] [--config FILE] [--entry FILE]
 * [--out DIR] [--node <version>]` — the single executables, dist/<platform>/worker[.exe], from
 * build.config.json. Runs on Linux x64 only (it cross-builds worker.exe). Prints one line per
 * target with its size and sha256. See README "Building" for what each step does and why.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import semver from 'semver';
import { NO_RELEASE_KEY } from '../src/update/signature.ts';
import { type BuildFacts, bundle, describeBundleError } from './build/bundle.ts';
import {
  BuildError,
  hostPlatform,
  PLATFORMS,
  type Platform,
  readBuildConfig,
  type Target,
} from './build/config.ts';
import { type NodeBinary, nodeBinary, sha256Of } from './build/node-binary.ts';
import { makeSea, strip } from './build/sea.ts';
import { readExeFacts, removeSignature, setResources, signWithHook } from './build/windows.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BuildOptions {
  /** WORKER_VERSION of this build; default package.json's version. No file is edited. */
  version?: string | undefined;
  /** Default: every target in the config. */
  platforms?: readonly string[] | undefined;
  /** Default: build.config.json in the repository. */
  configPath?: string | undefined;
  /** Default: the config's entry (src/main.ts); tests build test/fixtures/entry.ts. */
  entry?: string | undefined;
  /** Default: dist/ in the repository. */
  outDir?: string | undefined;
  /** Builds every chosen target on this Node version instead (≥ 25.5: it needs --build-sea). */
  nodeVersion?: string | undefined;
  /** Where fetched Node packages are kept between builds. Default: .cache/node in the repository. */
  cacheDir?: string | undefined;
  log?: (line: string) => void;
}

export interface BuiltExecutable {
  platform: Platform;
  file: string;
  sizeBytes: number;
  sha256: string;
  nodeVersion: string;
  codeCache: boolean;
  signed: boolean;
}

export async function buildWorker(options: BuildOptions = {}): Promise<BuiltExecutable[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  const configPath = resolve(options.configPath ?? join(ROOT, 'build.config.json'));
  const config = readBuildConfig(configPath);
  const host = hostPlatform();
  if (host !== 'linux-x64') {
    throw new BuildError(
      `the build runs on Linux x64 (it cross-builds worker.exe); this is ${process.platform}-${process.arch}`,
    );
  }
  const version = options.version ?? packageVersion();
  if (semver.valid(version) !== version) {
    throw new BuildError(
      `--version must be a semver version like 1.2.3, got ${JSON.stringify(version)}`,
    );
  }
  const targets = chooseTargets(config.targets, options.platforms);
  const cacheDir = resolve(options.cacheDir ?? join(ROOT, '.cache', 'node'));
  // Every Node binary is fetched and checked before anything is built: a bad pin stops at once.
  const binaries = targets.map((target) => {
    const node = options.nodeVersion ?? target.node;
    return {
      target,
      node,
      base: nodeBinary(config, configPath, target.platform, node, cacheDir),
      builder: nodeBinary(config, configPath, 'linux-x64', node, cacheDir),
    };
  });
  const facts: BuildFacts = {
    version,
    releasePublicKey: process.env.HIVE_RELEASE_PUBLIC_KEY || config.releasePublicKey,
    builtAt: builtAt(),
  };
  if (facts.releasePublicKey === '') log(`build: self-update will be off: ${NO_RELEASE_KEY}`);
  const entry = resolve(options.entry ?? join(ROOT, config.entry));
  const outDir = resolve(options.outDir ?? join(ROOT, 'dist'));
  mkdirSync(cacheDir, { recursive: true });
  const workDir = mkdtempSync(join(dirname(cacheDir), 'build-'));
  try {
    const bundles = new Map<number, string>();
    const built: BuiltExecutable[] = [];
    for (const { target, node, base, builder } of binaries) {
      const major = Number(node.split('.')[0]);
      let bundleFile = bundles.get(major);
      if (bundleFile === undefined) {
        bundleFile = join(workDir, `node${major}`, 'hive-worker.cjs');
        await bundle({ entry, outFile: bundleFile, nodeMajor: major, facts });
        bundles.set(major, bundleFile);
      }
      const file = join(outDir, target.platform, target.output);
      const codeCache = config.sea.useCodeCache && target.platform === host;
      const signed = await buildTarget({
        target,
        base,
        builder,
        bundleFile,
        file,
        codeCache,
        version,
        workDir,
        config,
      });
      const { size } = statSync(file);
      const sha256 = sha256Of(file);
      built.push({
        platform: target.platform,
        file,
        sizeBytes: size,
        sha256,
        nodeVersion: node,
        codeCache,
        signed,
      });
      log(
        `${relative(process.cwd(), file) || file}  ${(size / 1e6).toFixed(1)} MB  sha256 ${sha256}  ` +
          `(Node ${node}${codeCache ? ', code cache' : ''}${signed ? ', signed' : target.platform === 'win32-x64' ? ', unsigned' : ''})`,
      );
    }
    return built;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function buildTarget(job: {
  target: Target;
  base: NodeBinary;
  builder: NodeBinary;
  bundleFile: string;
  file: string;
  codeCache: boolean;
  version: string;
  workDir: string;
  config: ReturnType<typeof readBuildConfig>;
}): Promise<boolean> {
  const { target, config } = job;
  const baseFile = join(job.workDir, `base-${target.platform}-${basename(job.base.path)}`);
  if (target.platform === 'win32-x64') {
    removeSignature(job.base.path, baseFile);
    setResources(baseFile, {
      version: job.version,
      productName: config.windows.productName,
      fileDescription: config.windows.fileDescription,
      companyName: config.windows.companyName,
      originalFilename: target.output,
      iconFile: join(ROOT, config.windows.icon),
    });
  } else {
    copyFileSync(job.base.path, baseFile);
    strip(baseFile);
  }
  mkdirSync(dirname(job.file), { recursive: true });
  // Written beside and renamed over: a running worker's file can be replaced, not overwritten.
  const partial = `${job.file}.partial`;
  await makeSea({
    bundleFile: job.bundleFile,
    baseFile,
    builder: job.builder,
    output: partial,
    options: { ...config.sea, useCodeCache: job.codeCache },
    workDir: job.workDir,
  });
  let signed = false;
  if (target.platform === 'win32-x64') {
    const facts = readExeFacts(partial);
    if (!facts.hasSeaBlob || facts.versionStrings.ProductVersion !== job.version) {
      throw new BuildError(`${partial} lost its SEA blob or version resource during injection`);
    }
    signed = signWithHook(partial, process.env.HIVE_SIGN_COMMAND) === 'signed';
  }
  renameSync(partial, job.file);
  return signed;
}

function chooseTargets(
  targets: readonly Target[],
  platforms: readonly string[] | undefined,
): Target[] {
  if (platforms === undefined || platforms.length === 0) return [...targets];
  return platforms.map((platform) => {
    const target = targets.find((candidate) => candidate.platform === platform);
    if (target === undefined) {
      throw new BuildError(
        `unknown --platform ${JSON.stringify(platform)}; the targets are ${targets.map((t) => t.platform).join(', ')} (known platforms: ${PLATFORMS.join(', ')})`,
      );
    }
    return target;
  });
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
}

/** SOURCE_DATE_EPOCH, else the last commit's time, else now: the same sources build the same bytes. */
function builtAt(): string {
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(epoch) && epoch > 0) return new Date(epoch * 1000).toISOString();
  const git = spawnSync('git', ['log', '-1', '--format=%cI'], { cwd: ROOT, encoding: 'utf8' });
  const committed = Date.parse(git.stdout?.trim() ?? '');
  return new Date(Number.isNaN(committed) ? Date.now() : committed).toISOString();
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      version: { type: 'string' },
      platform: { type: 'string', multiple: true },
      config: { type: 'string' },
      entry: { type: 'string' },
      out: { type: 'string' },
      node: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    console.log(
      'usage: npm run build -- [--version <semver>] [--platform linux-x64|win32-x64]... [--config FILE]\n' +
        '                        [--entry FILE] [--out DIR] [--node <version>]\n' +
        'Builds dist/<platform>/worker[.exe]. HIVE_RELEASE_PUBLIC_KEY replaces the pinned release key,\n' +
        'HIVE_SIGN_COMMAND signs worker.exe, SOURCE_DATE_EPOCH fixes the build time. See README "Building".',
    );
    return 0;
  }
  const started = performance.now();
  await buildWorker({
    version: values.version,
    platforms: values.platform,
    configPath: values.config,
    entry: values.entry,
    outDir: values.out,
    nodeVersion: values.node,
  });
  console.log(`build: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const message =
        error instanceof BuildError ||
        (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
          ? (error as Error).message
          : (describeBundleError(error) ?? (error as Error).stack ?? String(error));
      console.error(`build: ${message}`);
      process.exitCode = 1;
    },
  );
}
