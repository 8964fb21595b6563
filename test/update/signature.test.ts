/** Release keys and signatures: keygen's files, and every way a signature must fail. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isSignatureValid, releasePublicKey, signRelease } from '../../src/update/signature.ts';
import { tempDir } from '../helpers/worker.ts';

const KEYGEN = fileURLToPath(new URL('../../scripts/keygen.ts', import.meta.url));
const FACTS = { platform: 'linux-x64', version: '1.1.0', sha256: 'ab'.repeat(32) };

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, pub: publicKey.export({ format: 'jwk' }).x ?? '' };
}

describe('release keys', () => {
  test('npm run keygen writes a 0600 PKCS#8 key and a base64url public key, and never overwrites', () => {
    const dir = tempDir('hive-keys-');
    const first = spawnSync(process.execPath, [KEYGEN, '--out', dir], { encoding: 'utf8' });
    assert.equal(first.status, 0, first.stderr);
    const pub = readFileSync(join(dir, 'release-key.pub'), 'utf8').trim();
    assert.equal(first.stdout.trim(), pub);
    assert.equal(Buffer.from(pub, 'base64url').length, 32);
    assert.equal(statSync(join(dir, 'release-key.pem')).mode & 0o777, 0o600);
    const pem = readFileSync(join(dir, 'release-key.pem'), 'utf8');
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    const signature = signRelease(FACTS, createPrivateKey(pem));
    assert.ok(isSignatureValid(FACTS, signature, releasePublicKey(pub)));
    const again = spawnSync(process.execPath, [KEYGEN, '--out', dir], { encoding: 'utf8' });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /refusing to overwrite/);
    assert.equal(readFileSync(join(dir, 'release-key.pem'), 'utf8'), pem, 'the key is untouched');
  });

  test('a pinned key that is not 32 bytes of base64url is refused', () => {
    assert.throws(() => releasePublicKey('abc'), /not 32 bytes of base64url .*: "abc"/);
    assert.throws(() => releasePublicKey('abc'), /not 32 bytes/);
    assert.throws(() => releasePublicKey(Buffer.alloc(33).toString('base64url')), /not 32 bytes/);
  });
});

test('no pinned key at all says so in plain terms, and how to pin one', () => {
  assert.throws(
    () => releasePublicKey(''),
    (error: Error) =>
      /^this build has no release key pinned/.test(error.message) &&
      error.message.includes('build.config.json "releasePublicKey"') &&
      error.message.includes('HIVE_RELEASE_PUBLIC_KEY') &&
      !error.message.includes('not 32 bytes'),
  );
});

describe('release signatures', () => {
  const { privateKey, pub } = keyPair();
  const key = releasePublicKey(pub);
  const signature = signRelease(FACTS, privateKey);

  test('a signature by the pinned key over exactly these facts is valid', () => {
    assert.ok(isSignatureValid(FACTS, signature, key));
  });

  test('mix-and-match: a valid signature for another platform, version or file is not', () => {
    assert.ok(!isSignatureValid({ ...FACTS, platform: 'win32-x64' }, signature, key));
    assert.ok(!isSignatureValid({ ...FACTS, version: '1.1.1' }, signature, key));
    assert.ok(!isSignatureValid({ ...FACTS, sha256: 'cd'.repeat(32) }, signature, key));
  });

  test('a signature by another key, a garbled one and an all-zero one are not', () => {
    assert.ok(!isSignatureValid(FACTS, signRelease(FACTS, keyPair().privateKey), key));
    const garbled = Buffer.from(signature, 'base64');
    garbled[10] = (garbled[10] ?? 0) ^ 1;
    assert.ok(!isSignatureValid(FACTS, garbled.toString('base64'), key));
    assert.ok(!isSignatureValid(FACTS, 'not base64 at all!', key));
    const zeroKey = releasePublicKey(Buffer.alloc(32).toString('base64url'));
    assert.ok(!isSignatureValid(FACTS, Buffer.alloc(64).toString('base64'), zeroKey));
  });
});

test('no private key is in the repository', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const files = spawnSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
    .stdout.split('\0')
    .filter(Boolean);
  assert.ok(files.length > 20, 'git lists the tracked files');
  const leaks = files.filter((file) => {
    if (/\.pem$|release-key/.test(file)) return true;
    try {
      return /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/.test(readFileSync(join(root, file), 'utf8'));
    } catch {
      return false;
    }
  });
  // This file names the marker in a regex, not a key.
  assert.deepEqual(
    leaks.filter((file) => !file.endsWith('signature.test.ts')),
    [],
  );
});
