/**
 * Packs one built platform into a release: `worker-<version>-<platform>.zip` (the executable, the
 * updater script, release.json) and `worker-<version>-<platform>.json`, the `version` answer
 * exactly as the server serves it, signed with the release key (`signature`, and `signatureV2`
 * over the zip and release.json: protocol 1.1-f); `addPatches` then lists patches in it.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { releaseFileNames } from '../../src/update/extract.ts';
import {
  isSignatureV2Valid,
  isSignatureValid,
  releasePublicKey,
  signRelease,
  signReleaseV2,
} from '../../src/update/signature.ts';
import { makePatches, type PatchEntry } from './patch.ts';

export interface PackInput {
  version: string;
  platform: string;
  executable: string;
  updater: string;
  outDir: string;
  privateKey: KeyObject;
  /** base64url of the key the build pins: the release must verify against it. */
  pinnedPublicKey: string;
}

export interface PackedRelease {
  zip: string;
  announcement: string;
  size: number;
  sha256: string;
  manifestSha256: string;
  /** The release's files by name, release.json included (what patches must rebuild). */
  files: Map<string, Buffer>;
  answer: Record<string, unknown>;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export function packRelease(input: PackInput): PackedRelease {
  const names = releaseFileNames(input.platform);
  const executable = readFileSync(input.executable);
  const updater = readFileSync(input.updater);
  const manifest = {
    version: input.version,
    platform: input.platform,
    files: { [names.executable]: sha256(executable), [names.updater]: sha256(updater) },
  };
  const zip = new AdmZip();
  // Unix modes in the zip for people who unzip by hand; the worker sets them itself.
  zip.addFile(names.executable, executable, '', 0o755 << 16);
  zip.addFile(names.updater, updater, '', 0o755 << 16);
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  zip.addFile('release.json', manifestBytes, '', 0o644 << 16);
  const base = `worker-${input.version}-${input.platform}`;
  const zipFile = join(input.outDir, `${base}.zip`);
  const bytes = zip.toBuffer();
  writeFileSync(zipFile, bytes);
  const digest = sha256(bytes);
  const facts = { platform: input.platform, version: input.version, sha256: digest };
  const signature = signRelease(facts, input.privateKey);
  const factsV2 = { ...facts, manifestSha256: sha256(manifestBytes) };
  const signatureV2 = signReleaseV2(factsV2, input.privateKey);
  const pinned = releasePublicKey(input.pinnedPublicKey);
  if (
    !isSignatureValid(facts, signature, pinned) ||
    !isSignatureV2Valid(factsV2, signatureV2, pinned)
  ) {
    throw new Error(
      `the release key does not match the key pinned in the build (${input.pinnedPublicKey}): a release signed by a key the build does not trust would never install`,
    );
  }
  const announcement = join(input.outDir, `${base}.json`);
  const answer = {
    version: input.version,
    url: `${base}.zip`,
    sha256: digest,
    size: bytes.length,
    signature,
    manifestSha256: factsV2.manifestSha256,
    signatureV2,
  };
  writeFileSync(announcement, `${JSON.stringify(answer, null, 2)}\n`);
  const files = new Map([
    [names.executable, executable],
    [names.updater, updater],
    ['release.json', manifestBytes],
  ]);
  return {
    zip: zipFile,
    announcement,
    size: bytes.length,
    sha256: digest,
    manifestSha256: factsV2.manifestSha256,
    files,
    answer,
  };
}

export interface PatchOptions {
  /** A folder of earlier releases, laid out as `--out` writes them (it may be `--out` itself). */
  fromDir: string;
  /** How many of the newest earlier versions get a patch. */
  count: number;
  /** zstd's level (default scripts/release/patch.ts PATCH_LEVEL). */
  level?: number | undefined;
  log?: (line: string) => void;
}

/** Writes the patches from earlier releases and lists them in the release's `version` answer. */
export async function addPatches(
  packed: PackedRelease,
  input: { version: string; platform: string; outDir: string },
  options: PatchOptions,
): Promise<PatchEntry[]> {
  const patches = await makePatches({
    ...input,
    files: packed.files,
    manifestSha256: packed.manifestSha256,
    zipBytes: packed.size,
    fromDir: options.fromDir,
    count: options.count,
    level: options.level,
    log: options.log,
  });
  const answer = { ...packed.answer, patches };
  writeFileSync(packed.announcement, `${JSON.stringify(answer, null, 2)}\n`);
  return patches;
}

/** The public half of a private key, as base64url of the raw 32 bytes. */
export function publicKeyOf(privateKey: KeyObject): string {
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (x === undefined) throw new Error('not an Ed25519 key');
  return x;
}
