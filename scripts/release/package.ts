/**
 * Packs one built platform into a release: `worker-<version>-<platform>.zip` (the executable, the
 * updater script, release.json) and `worker-<version>-<platform>.json`, the `version` answer
 * exactly as the server serves it, signed with the release key.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { releaseFileNames } from '../../src/update/extract.ts';
import { isSignatureValid, releasePublicKey, signRelease } from '../../src/update/signature.ts';

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
  zip.addFile(
    'release.json',
    Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
    '',
    0o644 << 16,
  );
  const base = `worker-${input.version}-${input.platform}`;
  const zipFile = join(input.outDir, `${base}.zip`);
  const bytes = zip.toBuffer();
  writeFileSync(zipFile, bytes);
  const digest = sha256(bytes);
  const facts = { platform: input.platform, version: input.version, sha256: digest };
  const signature = signRelease(facts, input.privateKey);
  if (!isSignatureValid(facts, signature, releasePublicKey(input.pinnedPublicKey))) {
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
  };
  writeFileSync(announcement, `${JSON.stringify(answer, null, 2)}\n`);
  return { zip: zipFile, announcement, size: bytes.length, sha256: digest };
}

/** The public half of a private key, as base64url of the raw 32 bytes. */
export function publicKeyOf(privateKey: KeyObject): string {
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (x === undefined) throw new Error('not an Ed25519 key');
  return x;
}
