/**
 * Patches from earlier releases (protocol 1.1-f, docs/updating.md "Patches"): one
 * `worker-<version>-<platform>.from-<old>.patch` per earlier zip found, made chunk by chunk with the
 * `zstd` CLI's `--patch-from` (Node's zstd cannot), applied with the worker's own code before kept.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import AdmZip from 'adm-zip';
import semver from 'semver';
import { releaseFileNames } from '../../src/update/extract.ts';
import { applyPatch } from '../../src/update/patch.ts';
import {
  baseWindow,
  chunkCount,
  encodePatchHeader,
  type PatchFile,
} from '../../src/update/patch-format.ts';

/** Chunk of the new executable per frame, and how far around it the old one is searched. */
export const PATCH_CHUNK_BYTES = 4 * 1024 * 1024;
export const PATCH_MARGIN_BYTES = 4 * 1024 * 1024;
/** A patch above this share of the zip is not written: the zip costs the worker less to apply. */
export const PATCH_MAX_SHARE = 0.5;
/** zstd's level for releases (figures: docs/updating.md "Patches"); tests pass a faster one. */
export const PATCH_LEVEL = 19;

export interface PatchEntry {
  from: string;
  url: string;
  sha256: string;
  size: number;
}

export interface PatchesInput {
  version: string;
  platform: string;
  /** The new release's files, release.json included. */
  files: Map<string, Buffer>;
  manifestSha256: string;
  zipBytes: number;
  fromDir: string;
  count: number;
  outDir: string;
  level?: number | undefined;
  log?: (line: string) => void;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The `count` newest versions below `version` that have a zip for `platform` in `dir`. */
export function earlierReleases(dir: string, platform: string, version: string, count: number) {
  const suffix = `-${platform}.zip`;
  const found: { version: string; zip: string }[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('worker-') || !name.endsWith(suffix)) continue;
    const old = semver.valid(name.slice('worker-'.length, -suffix.length));
    if (old !== null && semver.lt(old, version)) found.push({ version: old, zip: join(dir, name) });
  }
  return found.sort((a, b) => semver.rcompare(a.version, b.version)).slice(0, count);
}

/** Writes the patches worth having into `outDir` and returns their `patches` entries. */
export async function makePatches(input: PatchesInput): Promise<PatchEntry[]> {
  const entries: PatchEntry[] = [];
  for (const old of earlierReleases(input.fromDir, input.platform, input.version, input.count)) {
    const oldFiles = new Map(
      new AdmZip(old.zip).getEntries().map((entry) => [entry.entryName, entry.getData()] as const),
    );
    const patch = makePatch(input, old.version, oldFiles);
    const name = `worker-${input.version}-${input.platform}.from-${old.version}.patch`;
    if (patch.length > input.zipBytes * PATCH_MAX_SHARE) {
      input.log?.(
        `${name}: ${patch.length} bytes, over ${PATCH_MAX_SHARE * 100} % of the zip (${input.zipBytes}); not written`,
      );
      continue;
    }
    const file = join(input.outDir, name);
    writeFileSync(file, patch);
    await checkPatch(file, input, oldFiles);
    entries.push({ from: old.version, url: name, sha256: sha256(patch), size: patch.length });
    input.log?.(`${name}: ${patch.length} bytes (checked: rebuilds the release byte for byte)`);
  }
  return entries;
}

function makePatch(input: PatchesInput, from: string, oldFiles: Map<string, Buffer>): Buffer {
  const { executable } = releaseFileNames(input.platform);
  const files: PatchFile[] = [];
  const blobs: Buffer[] = [];
  for (const [name, data] of input.files) {
    const base = name === executable ? oldFiles.get(name) : undefined;
    const blob = base === undefined ? zstdCompressSync(data) : patchChunks(data, base, input.level);
    const make =
      base === undefined
        ? { kind: 'zstd' as const }
        : {
            kind: 'patch' as const,
            base: name,
            baseSize: base.length,
            baseSha256: sha256(base),
            chunkBytes: PATCH_CHUNK_BYTES,
            marginBytes: PATCH_MARGIN_BYTES,
          };
    files.push({ name, size: data.length, sha256: sha256(data), blobBytes: blob.length, make });
    blobs.push(blob);
  }
  const header = encodePatchHeader({
    format: 1,
    platform: input.platform,
    from,
    to: input.version,
    files,
  });
  return Buffer.concat([header, ...blobs]);
}

/** One `zstd --patch-from` frame per chunk, each preceded by its length. */
function patchChunks(data: Buffer, base: Buffer, level = PATCH_LEVEL): Buffer {
  const work = mkdtempSync(join(tmpdir(), 'hive-patch-'));
  const make = {
    chunkBytes: PATCH_CHUNK_BYTES,
    marginBytes: PATCH_MARGIN_BYTES,
    baseSize: base.length,
  };
  try {
    const frames: Buffer[] = [];
    for (let index = 0; index < chunkCount(data.length, PATCH_CHUNK_BYTES); index++) {
      const window = baseWindow(make, index);
      const oldFile = join(work, 'old');
      const newFile = join(work, 'new');
      writeFileSync(oldFile, base.subarray(window.start, window.end));
      writeFileSync(
        newFile,
        data.subarray(index * PATCH_CHUNK_BYTES, (index + 1) * PATCH_CHUNK_BYTES),
      );
      const run = spawnSync(
        'zstd',
        [
          '-q',
          '-f',
          `-${level}`,
          '--long=27',
          `--patch-from=${oldFile}`,
          newFile,
          '-o',
          join(work, 'frame'),
        ],
        { encoding: 'utf8' },
      );
      if (run.error !== undefined || run.status !== 0) {
        throw new Error(
          `zstd failed (${run.error?.message ?? run.stderr.trim()}); install it: apt-get install zstd (scripts/ensure-tools.sh)`,
        );
      }
      const frame = readFileSync(join(work, 'frame'));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(frame.length);
      frames.push(length, frame);
    }
    return Buffer.concat(frames);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Applies the patch as a worker would, from the old zip's files, and compares every file. */
async function checkPatch(
  patchFile: string,
  input: PatchesInput,
  oldFiles: Map<string, Buffer>,
): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hive-patch-check-'));
  try {
    const bases: Record<string, string> = {};
    mkdirSync(join(work, 'old'));
    for (const [name, data] of oldFiles) {
      bases[name] = join(work, 'old', name);
      writeFileSync(bases[name], data);
    }
    const target = join(work, 'new');
    await applyPatch(patchFile, bases, target, {
      version: input.version,
      platform: input.platform,
      manifestSha256: input.manifestSha256,
    });
    for (const [name, data] of input.files) {
      if (!readFileSync(join(target, name)).equals(data))
        throw new Error(`${patchFile} does not rebuild ${name}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
