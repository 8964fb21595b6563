/** Checks a release before anything is fetched or extracted: its URL, exact size, sha256, signature. */
import { createHash, type KeyObject } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { HiveError } from '../platform/errors.ts';
import type { Release } from '../wire/protocol.ts';
import { isSignatureValid } from './signature.ts';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The signature is checked first: nothing about an unsigned release is worth reading further. */
export function verifyAnnouncement(release: Release, platform: string, publicKey: KeyObject): void {
  if (
    !isSignatureValid(
      { platform, version: release.version, sha256: release.sha256 },
      release.signature,
      publicKey,
    )
  ) {
    throw new HiveError(
      'UPDATE',
      `release ${release.version} for ${platform} is not signed by the pinned release key (bad signature, another key, or signed for another platform/version)`,
    );
  }
}

export async function verifyDownload(
  file: string,
  release: Pick<Release, 'version' | 'size' | 'sha256'>,
): Promise<void> {
  const size = statSync(file).size;
  if (size !== release.size) {
    throw new HiveError(
      'UPDATE',
      `release ${release.version}: downloaded ${size} bytes, announced ${release.size}`,
    );
  }
  const actual = await sha256File(file);
  if (actual !== release.sha256.toLowerCase()) {
    throw new HiveError(
      'UPDATE',
      `release ${release.version}: sha256 is ${actual}, announced ${release.sha256}`,
    );
  }
}

/**
 * The release's URL (already resolved against SERVER_URL): http(s) only, and never plain http:
 * under an https: server (protocol section 5). Such a downgrade lets anyone on the path watch and
 * stall what we fetch; the signature still guards the bytes.
 */
export function releaseUrl(release: Release, url: URL, server: URL): URL {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new HiveError('UPDATE', `release ${release.version} url is not http(s): ${url.protocol}`);
  }
  if (server.protocol === 'https:' && url.protocol === 'http:') {
    throw new HiveError(
      'UPDATE',
      `release ${release.version} is offered over plain http: (${url.origin}) by an https: server; refused`,
    );
  }
  return url;
}
