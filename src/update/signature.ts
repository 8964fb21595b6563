/**
 * Release signatures: Ed25519 (node:crypto, no dependency) over the UTF-8 bytes of
 * `hive-worker-release:v1:<platform>:<version>:<sha256>`, and (protocol 1.1-f) `signatureV2` over
 * `hive-worker-release:v2:<platform>:<version>:<sha256>:<manifestSha256>`, checked against the key
 * pinned in the build — never a key that came with the download.
 */
import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { HiveError } from '../platform/errors.ts';
import { releaseSigningText, releaseSigningTextV2 } from '../wire/protocol.ts';

/** Why a build without a pinned key cannot update itself, and how to pin one (said at start and by the build). */
export const NO_RELEASE_KEY =
  'this build has no release key pinned, so it cannot check a release (to pin one: npm run keygen, then build with its public key in build.config.json "releasePublicKey" or in HIVE_RELEASE_PUBLIC_KEY)';

/** Imports the pinned key: base64url of the raw 32 bytes. */
export function releasePublicKey(base64url: string): KeyObject {
  if (base64url === '') throw new HiveError('UPDATE', NO_RELEASE_KEY);
  const raw = Buffer.from(base64url, 'base64url');
  if (raw.length !== 32 || raw.toString('base64url') !== base64url.replace(/=+$/, '')) {
    throw new HiveError(
      'UPDATE',
      `the pinned release key is not 32 bytes of base64url (build.config.json releasePublicKey): ${JSON.stringify(base64url)}`,
    );
  }
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

export interface SignedFacts {
  platform: string;
  version: string;
  sha256: string;
}

export function signRelease(facts: SignedFacts, privateKey: KeyObject | string): string {
  return sign(
    null,
    Buffer.from(releaseSigningText(facts.platform, facts.version, facts.sha256)),
    privateKey,
  ).toString('base64');
}

/** True only for a valid signature by `publicKey` over exactly these facts. */
export function isSignatureValid(
  facts: SignedFacts,
  signatureBase64: string,
  publicKey: KeyObject,
): boolean {
  const signature = Buffer.from(signatureBase64, 'base64');
  if (signature.length !== 64) return false;
  return verify(
    null,
    Buffer.from(releaseSigningText(facts.platform, facts.version, facts.sha256)),
    publicKey,
    signature,
  );
}

export interface SignedFactsV2 extends SignedFacts {
  /** sha256 of the release's release.json. */
  manifestSha256: string;
}

const textV2 = (facts: SignedFactsV2) =>
  Buffer.from(
    releaseSigningTextV2(facts.platform, facts.version, facts.sha256, facts.manifestSha256),
  );

export function signReleaseV2(facts: SignedFactsV2, privateKey: KeyObject | string): string {
  return sign(null, textV2(facts), privateKey).toString('base64');
}

/** True only for a valid `signatureV2` by `publicKey` over exactly these facts. */
export function isSignatureV2Valid(
  facts: SignedFactsV2,
  signatureBase64: string,
  publicKey: KeyObject,
): boolean {
  const signature = Buffer.from(signatureBase64, 'base64');
  return signature.length === 64 && verify(null, textV2(facts), publicKey, signature);
}
