/** `npm run release` as a release pipeline drives it (docs/updating.md, "Releasing"). */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import AdmZip from 'adm-zip';
import {
  isSignatureV2Valid,
  isSignatureValid,
  releasePublicKey,
} from '../../src/update/signature.ts';
import { ReleaseSchema } from '../../src/wire/protocol.ts';
import { tempDir } from '../helpers/worker.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(ROOT, 'scripts', script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });

test('keygen, then release: a signed zip and its version answer, checked against the pinned key', () => {
  const keys = tempDir('hive-keys-');
  assert.equal(run('keygen.ts', ['--out', keys]).status, 0);
  const pub = readFileSync(join(keys, 'release-key.pub'), 'utf8').trim();
  const out = tempDir('hive-release-');
  const args = ['--out', out, '--version', '2.3.4', '--platform', 'linux-x64'];

  const untrusted = run('release.ts', ['--key', join(keys, 'release-key.pem'), ...args], {
    HIVE_RELEASE_PUBLIC_KEY: '',
  });
  assert.equal(untrusted.status, 1, 'a key the build does not pin is an error');
  assert.match(untrusted.stderr, /is not the key the build pins/);

  const released = run('release.ts', args, {
    HIVE_RELEASE_PUBLIC_KEY: pub,
    HIVE_RELEASE_KEY_FILE: join(keys, 'release-key.pem'),
  });
  assert.equal(released.status, 0, released.stderr);
  const answer = ReleaseSchema.parse(
    JSON.parse(readFileSync(join(out, 'worker-2.3.4-linux-x64.json'), 'utf8')),
  );
  assert.equal(answer.url, 'worker-2.3.4-linux-x64.zip');
  const zipBytes = readFileSync(join(out, answer.url));
  assert.equal(answer.size, zipBytes.length);
  assert.equal(answer.sha256, createHash('sha256').update(zipBytes).digest('hex'));
  const facts = { platform: 'linux-x64', version: '2.3.4', sha256: answer.sha256 };
  assert.ok(isSignatureValid(facts, answer.signature, releasePublicKey(pub)));
  const zip = new AdmZip(zipBytes);
  assert.deepEqual(
    zip
      .getEntries()
      .map((entry) => entry.entryName)
      .sort(),
    ['release.json', 'updater.sh', 'worker'],
  );
  const manifest = JSON.parse(zip.readAsText('release.json'));
  assert.equal(manifest.version, '2.3.4');
  const worker = zip.getEntry('worker')?.getData() ?? Buffer.alloc(0);
  assert.equal(manifest.files.worker, createHash('sha256').update(worker).digest('hex'));
  // Protocol 1.1-f: release.json's sha256, and signatureV2 over it and the zip.
  const manifestSha256 = createHash('sha256')
    .update(zip.getEntry('release.json')?.getData() ?? '')
    .digest('hex');
  assert.equal(answer.manifestSha256, manifestSha256);
  assert.ok(
    isSignatureV2Valid(
      { ...facts, manifestSha256 },
      answer.signatureV2 ?? '',
      releasePublicKey(pub),
    ),
  );
  assert.equal(answer.patches, undefined, 'no --patch-from, no patches');

  // The next version with --patch-from the same folder: one patch, from 2.3.4, listed.
  const misuse = run('release.ts', [...args, '--patches', '2'], {
    HIVE_RELEASE_PUBLIC_KEY: pub,
    HIVE_RELEASE_KEY_FILE: join(keys, 'release-key.pem'),
  });
  assert.equal(misuse.status, 2, '--patches without --patch-from');
  const next = ['--out', out, '--version', '2.3.5', '--platform', 'linux-x64'];
  const patched = run('release.ts', [...next, '--patch-from', out, '--patch-level', '3'], {
    HIVE_RELEASE_PUBLIC_KEY: pub,
    HIVE_RELEASE_KEY_FILE: join(keys, 'release-key.pem'),
  });
  assert.equal(patched.status, 0, patched.stderr);
  const second = ReleaseSchema.parse(
    JSON.parse(readFileSync(join(out, 'worker-2.3.5-linux-x64.json'), 'utf8')),
  );
  const patchName = 'worker-2.3.5-linux-x64.from-2.3.4.patch';
  assert.deepEqual(
    second.patches?.map((patch) => [patch.from, patch.url]),
    [['2.3.4', patchName]],
  );
  const patch = readFileSync(join(out, patchName));
  assert.equal(second.patches?.[0]?.size, patch.length);
  assert.equal(second.patches?.[0]?.sha256, createHash('sha256').update(patch).digest('hex'));
  assert.ok(patch.length < second.size / 100, `${patch.length} bytes, under 1 % of the zip`);
  assert.match(
    patched.stdout,
    /from-2\.3\.4\.patch: \d+ bytes \(checked: rebuilds the release byte for byte\)/,
  );
});
