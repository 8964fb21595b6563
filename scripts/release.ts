/**
 * `npm run release -- --key <file> --out <dir> [--version <semver>] [--platform <p>...]`
 * (HIVE_RELEASE_KEY_FILE may stand for --key). Builds the executables as that version, then per
 * platform writes the release zip and its signed `version` answer into <dir>, ready to drop into
 * the reference server's releases folder (`npm run server -- --releases <dir>`).
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import semver from 'semver';
import { releaseFileNames } from '../src/update/extract.ts';
import { packRelease, publicKeyOf } from './release/package.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_PLATFORMS = ['linux-x64', 'win32-x64'];

function main(): number {
  const { values } = parseArgs({
    options: {
      key: { type: 'string' },
      out: { type: 'string' },
      version: { type: 'string' },
      platform: { type: 'string', multiple: true },
      help: { type: 'boolean' },
    },
  });
  const keyFile = values.key ?? process.env.HIVE_RELEASE_KEY_FILE;
  if (values.help === true || keyFile === undefined || values.out === undefined) {
    console.error(
      'usage: npm run release -- --key <release-key.pem> --out <dir> [--version <semver>] [--platform <p>...]\n' +
        '  (HIVE_RELEASE_KEY_FILE may stand for --key; platforms default to linux-x64 and win32-x64)',
    );
    return values.help === true ? 0 : 2;
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = values.version ?? pkg.version;
  if (semver.valid(version) === null) {
    console.error(`release: --version must be a semver version, got ${JSON.stringify(version)}`);
    return 2;
  }
  const platforms = values.platform ?? DEFAULT_PLATFORMS;
  const privateKey = createPrivateKey(readFileSync(resolve(keyFile)));
  const config = JSON.parse(readFileSync(join(ROOT, 'build.config.json'), 'utf8')) as {
    releasePublicKey: string;
  };
  const pinned = process.env.HIVE_RELEASE_PUBLIC_KEY || config.releasePublicKey;
  if (publicKeyOf(privateKey) !== pinned) {
    console.error(
      `release: ${keyFile} is not the key the build pins (build.config.json releasePublicKey or HIVE_RELEASE_PUBLIC_KEY = ${JSON.stringify(pinned)}); workers would refuse this release`,
    );
    return 1;
  }
  const build = spawnSync(
    process.execPath,
    [
      join(ROOT, 'scripts', 'build.ts'),
      '--version',
      version,
      ...platforms.flatMap((p) => ['--platform', p]),
    ],
    { stdio: 'inherit', cwd: ROOT },
  );
  if (build.status !== 0) {
    console.error(`release: the build failed (exit ${build.status})`);
    return 1;
  }
  const outDir = resolve(values.out);
  mkdirSync(outDir, { recursive: true });
  for (const platform of platforms) {
    const names = releaseFileNames(platform);
    const packed = packRelease({
      version,
      platform,
      executable: join(ROOT, 'dist', platform, names.executable),
      updater: join(ROOT, 'updater', names.updater),
      outDir,
      privateKey,
      pinnedPublicKey: pinned,
    });
    console.log(`${packed.zip}  ${packed.size} bytes  sha256 ${packed.sha256}`);
    console.log(`${packed.announcement}  (signature checked against the pinned key)`);
  }
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(`release: ${(error as Error).message}`);
  process.exitCode = 1;
}
