/**
 * Turns the bundle and a prepared base binary into a single executable. The blob is made by a
 * Linux Node of exactly the base binary's version (another version "succeeds" and the result
 * crashes). Node ≥ 25.5 does it in one step (`--build-sea`), so no injector (postject) is needed:
 * older Node versions are refused.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BuildError } from './config.ts';
import type { NodeBinary } from './node-binary.ts';

export interface SeaOptions {
  disableExperimentalSEAWarning: boolean;
  execArgvExtension: 'none' | 'cli';
  execArgv: readonly string[];
  useCodeCache: boolean;
}

export interface MakeSeaInput {
  bundleFile: string;
  /** The binary to inject into (already stripped / unsigned / with resources). */
  baseFile: string;
  /** Linux Node of the same version as the base binary. */
  builder: NodeBinary;
  output: string;
  options: SeaOptions;
  workDir: string;
}

function hasBuildSea(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 25 || (major === 25 && minor >= 5);
}

export async function makeSea(input: MakeSeaInput): Promise<void> {
  const { builder, options } = input;
  // `main` is given relative to workDir (the builder's cwd): the blob records it as the script's
  // name, and an absolute temporary path there would make every build's bytes differ.
  const common = {
    main: relative(input.workDir, input.bundleFile),
    disableExperimentalSEAWarning: options.disableExperimentalSEAWarning,
    useCodeCache: options.useCodeCache,
    execArgvExtension: options.execArgvExtension,
    execArgv: options.execArgv,
  };
  if (!hasBuildSea(builder.version)) {
    throw new BuildError(
      `Node ${builder.version} has no --build-sea (it came in Node 25.5): build on Node 26, as build.config.json's targets do`,
    );
  }
  const configFile = join(input.workDir, 'sea-config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ ...common, executable: input.baseFile, output: input.output }, null, 2),
  );
  // The code cache is made by this process: with the V8 flags the executable runs with, or V8
  // rejects it at every start (its flags hash differs).
  run(builder.path, [...(options.execArgv ?? []), '--build-sea', configFile], input.workDir);
  chmodSync(input.output, 0o755);
}

function run(file: string, args: string[], cwd: string): void {
  const result = spawnSync(file, args, { cwd, encoding: 'utf8', env: withoutNodeOptions() });
  if (result.status !== 0) {
    throw new BuildError(
      `${file} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}${result.stdout}`,
    );
  }
}

/** The builder must not pick up the caller's NODE_OPTIONS (a test runner's, a user's). */
function withoutNodeOptions(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** `strip` the Linux base binary: ≈ 19 MB of symbols nobody needs in a shipped worker. */
export function strip(file: string): void {
  const result = spawnSync('strip', [file], { encoding: 'utf8' });
  if (result.error !== undefined) {
    throw new BuildError(
      `cannot run strip (${result.error.message}); install it: apt-get install -y binutils`,
    );
  }
  if (result.status !== 0) throw new BuildError(`strip ${file} failed: ${result.stderr.trim()}`);
}
