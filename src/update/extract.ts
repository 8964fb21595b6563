/**
 * Extracts a verified release zip with adm-zip, only once every entry has passed our checks
 * (adm-zip rewrites hostile names and has no size limits; docs/updating.md); every file written is
 * then checked against release.json.
 */
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import * as z from 'zod';
import { HiveError } from '../platform/errors.ts';
import { removeStaged } from './state.ts';
import { sha256File } from './verify.ts';

/** Sane limits: a release is an executable (~150 MB), a script and a small JSON file. */
export const EXTRACT_LIMITS = {
  maxEntries: 8,
  maxEntryBytes: 400 * 1024 * 1024,
  maxTotalBytes: 500 * 1024 * 1024,
};

const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const ReleaseManifestSchema = z.object({
  version: z.string(),
  platform: z.string(),
  files: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/i)),
});
export type ReleaseManifest = z.infer<typeof ReleaseManifestSchema>;

export interface ExtractedRelease {
  dir: string;
  executable: string;
  updater: string;
  manifest: ReleaseManifest;
}

export function releaseFileNames(platform: string): { executable: string; updater: string } {
  return platform.startsWith('win32')
    ? { executable: 'worker.exe', updater: 'updater.bat' }
    : { executable: 'worker', updater: 'updater.sh' };
}

/** The release written in `dir` (by an archive or a patch), its programs made executable. */
export function releaseIn(dir: string, manifest: ReleaseManifest): ExtractedRelease {
  const names = releaseFileNames(manifest.platform);
  const executable = join(dir, names.executable);
  const updater = join(dir, names.updater);
  if (!manifest.platform.startsWith('win32')) {
    chmodSync(executable, 0o755);
    chmodSync(updater, 0o755);
  }
  return { dir, executable, updater, manifest };
}

/** A file name a release may hold: plain, short, no device name (also for patches). */
export function isSafeFileName(name: string): boolean {
  return SAFE_NAME.test(name) && !RESERVED.test(name) && name !== '.' && name !== '..';
}

export async function extractRelease(
  zipFile: string,
  targetDir: string,
  expected: { version: string; platform: string },
  limits: typeof EXTRACT_LIMITS = EXTRACT_LIMITS,
): Promise<ExtractedRelease> {
  const fail = (why: string) =>
    new HiveError('UPDATE', `release ${expected.version} zip refused: ${why}`);
  let zip: AdmZip;
  try {
    zip = new AdmZip(zipFile);
  } catch (error) {
    throw fail(`not a readable zip (${(error as Error).message})`);
  }
  const entries = zip.getEntries();
  if (entries.length > limits.maxEntries)
    throw fail(`${entries.length} entries, more than ${limits.maxEntries}`);
  let total = 0;
  for (const entry of entries) {
    const name = entry.entryName;
    if (
      entry.isDirectory ||
      !SAFE_NAME.test(name) ||
      RESERVED.test(name) ||
      name === '.' ||
      name === '..'
    ) {
      throw fail(`unsafe entry name ${JSON.stringify(name)}`);
    }
    const mode = entry.attr >>> 16;
    if ((mode & 0o170000) === 0o120000) throw fail(`${name} is a symlink`);
    const { method, size, compressedSize } = entry.header;
    if (method !== 0 && method !== 8) throw fail(`${name} uses compression method ${method}`);
    if (size > limits.maxEntryBytes || compressedSize > limits.maxEntryBytes) {
      throw fail(`${name} is larger than ${limits.maxEntryBytes} bytes`);
    }
    total += size;
  }
  if (total > limits.maxTotalBytes)
    throw fail(`${total} bytes uncompressed, more than ${limits.maxTotalBytes}`);

  const manifestEntry = entries.find((entry) => entry.entryName === 'release.json');
  if (manifestEntry === undefined) throw fail('no release.json');
  if (manifestEntry.header.size > 64 * 1024) throw fail('release.json is too large');
  let manifest: ReleaseManifest;
  try {
    manifest = ReleaseManifestSchema.parse(JSON.parse(manifestEntry.getData().toString('utf8')));
  } catch (error) {
    throw fail(`release.json is invalid (${(error as Error).message.split('\n')[0]})`);
  }
  if (manifest.version !== expected.version || manifest.platform !== expected.platform) {
    throw fail(
      `release.json says ${manifest.version} for ${manifest.platform}, the server announced ${expected.version} for ${expected.platform}`,
    );
  }
  const names = releaseFileNames(expected.platform);
  for (const required of [names.executable, names.updater]) {
    if (!Object.hasOwn(manifest.files, required))
      throw fail(`release.json does not list ${required}`);
  }
  for (const entry of entries) {
    if (entry.entryName !== 'release.json' && !Object.hasOwn(manifest.files, entry.entryName)) {
      throw fail(`${entry.entryName} is not listed in release.json`);
    }
  }
  for (const listed of Object.keys(manifest.files)) {
    if (!entries.some((entry) => entry.entryName === listed))
      throw fail(`${listed} is listed but missing`);
  }

  // Extract into a fresh, empty folder; on any failure after this point the folder is removed (or
  // emptied, if it is a mount point), so no half-written or half-checked file is left to be used.
  removeStaged(targetDir);
  mkdirSync(targetDir, { recursive: true });
  try {
    await writeAndCheck(entries, manifest, targetDir, fail);
  } catch (error) {
    try {
      removeStaged(targetDir);
    } catch {
      // The first error is the one to report; the next start prunes staging again.
    }
    if (error instanceof HiveError) throw error;
    // A full disk (ENOSPC), a read-only or refusing folder: the disk's fault, not the release's.
    throw new HiveError(
      'UPDATE',
      `release ${expected.version} could not be extracted into ${targetDir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return releaseIn(targetDir, manifest);
}

async function writeAndCheck(
  entries: AdmZip.IZipEntry[],
  manifest: ReleaseManifest,
  targetDir: string,
  fail: (why: string) => HiveError,
): Promise<void> {
  for (const entry of entries) {
    // getData() inflates the entry and checks its CRC; writeFileSync then reports a full disk
    // (ENOSPC), which adm-zip's own extract functions swallow, leaving a truncated file.
    writeFileSync(join(targetDir, entry.entryName), entry.getData());
  }
  const written = readdirSync(targetDir).sort();
  const wanted = entries.map((entry) => entry.entryName).sort();
  if (written.join('/') !== wanted.join('/')) {
    throw fail(`extracted ${written.join(', ')}, expected ${wanted.join(', ')}`);
  }
  // Every file is checked against release.json: what was written is what was signed.
  for (const [name, sha256] of Object.entries(manifest.files)) {
    const file = join(targetDir, name);
    const actual = await sha256File(file);
    if (actual !== sha256.toLowerCase()) {
      throw fail(
        `${name} has sha256 ${actual} (${statSync(file).size} bytes), release.json says ${sha256}`,
      );
    }
  }
}
