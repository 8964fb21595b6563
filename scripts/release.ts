/**
 * `npm run release -- --key <file> --out <dir> [--version <semver>] [--platform <p>...]
 * [--patch-from <dir> [--patches N]]` (HIVE_RELEASE_KEY_FILE may stand for --key). Builds the
 * executables as that version, then per platform writes the release zip, its signed `version`
 * answer and, with --patch-from, patches from the N newest earlier releases found there (default 3;
 * docs/updating.md "Patches") into <dir>, ready to drop into the reference server's releases folder
 * (`npm run server -- --releases <dir>`).
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import semver from 'semver';
import { releaseFileNames } from '../src/update/extract.ts';
import { addPatches, packRelease, publicKeyOf } from './release/package.ts';
import { PATCH_LEVEL } from './release/patch.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_PLATFORMS = ['linux-x64', 'win32-x64'];

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      key: { type: 'string' },
      out: { type: 'string' },
      version: { type: 'string' },
      platform: { type: 'string', multiple: true },
      'patch-from': { type: 'string' },
      patches: { type: 'string' },
      'patch-level': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const keyFile = values.key ?? process.env.HIVE_RELEASE_KEY_FILE;
  if (values.help === true || keyFile === undefined || values.out === undefined) {
    console.error(
      'usage: npm run release -- --key <release-key.pem> --out <dir> [--version <semver>] [--platform <p>...] [--patch-from <dir> [--patches N]]\n' +
        '  (HIVE_RELEASE_KEY_FILE may stand for --key; platforms default to linux-x64 and win32-x64;\n' +
        '  --patch-from: patches from the N newest earlier releases in <dir>, default 3;\n' +
        '  --patch-level: zstd level of the patches, default 19)',
    );
    return values.help === true ? 0 : 2;
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = values.version ?? pkg.version;
  if (semver.valid(version) === null) {
    console.error(`release: --version must be a semver version, got ${JSON.stringify(version)}`);
    return 2;
  }
  const patchCount = Number(values.patches ?? '3');
  if (!Number.isInteger(patchCount) || patchCount < 0) {
    console.error(
      `release: --patches must be a whole number ≥ 0, got ${JSON.stringify(values.patches)}`,
    );
    return 2;
  }
  const patchLevel = Number(values['patch-level'] ?? PATCH_LEVEL);
  if (!Number.isInteger(patchLevel) || patchLevel < 1 || patchLevel > 19) {
    console.error(
      `release: --patch-level must be a zstd level 1–19, got ${JSON.stringify(values['patch-level'])}`,
    );
    return 2;
  }
  if (values.patches !== undefined && values['patch-from'] === undefined) {
    console.error('release: --patches needs --patch-from <dir>');
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
    if (values['patch-from'] !== undefined) {
      await addPatches(
        packed,
        { version, platform, outDir },
        {
          fromDir: resolve(values['patch-from']),
          count: patchCount,
          level: patchLevel,
          log: console.log,
        },
      );
    }
    console.log(
      `${packed.announcement}  (signature and signatureV2 checked against the pinned key)`,
    );
  }
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`release: ${(error as Error).message}`);
  process.exitCode = 1;
}
